// ReportFollower: reads a report folder on a worker thread and hands immutable snapshots to the
// UI thread, so parsing a large or growing report never blocks the window.
//
// Create it on any thread, moveToThread() it to a worker QThread and call start() there (the
// QThread::started signal); it then lives on that thread. In follow mode it polls every
// `interval_ms` (≤500 ms, so charts can update at least twice a second) and also as soon as a
// QFileSystemWatcher sees the folder or a timeline CSV change. Signals are delivered to the UI
// thread through queued connections.
#ifndef K8SLB_GUI_APP_REPORT_FOLLOWER_H_
#define K8SLB_GUI_APP_REPORT_FOLLOWER_H_

#include <QFileSystemWatcher>
#include <QObject>
#include <QString>
#include <QTimer>
#include <memory>

#include "report/folder.h"
#include "report/schema.h"

namespace k8slb::dashboard {

using ReportPtr = std::shared_ptr<const report::Report>;

enum class FollowMode {
  kOnce,    // a recorded run: read once
  kFollow,  // a live run: keep reading what is appended
};

class ReportFollower : public QObject {
  Q_OBJECT

 public:
  ReportFollower(QString dir, FollowMode mode, int interval_ms = 250);

 public slots:
  void start();
  void pollNow();

 signals:
  void reportChanged(k8slb::dashboard::ReportPtr report);
  // `message` names the file and the problem; the last good snapshot (if any) stays valid.
  void readFailed(QString message);
  void readRecovered();

 private:
  void WatchFiles();

  QString dir_;
  FollowMode mode_;
  int interval_ms_;
  report::FolderReader reader_;
  QTimer* timer_ = nullptr;
  QTimer* debounce_ = nullptr;
  QFileSystemWatcher* watcher_ = nullptr;
  QString last_error_;
};

}  // namespace k8slb::dashboard

Q_DECLARE_METATYPE(k8slb::dashboard::ReportPtr)

#endif  // K8SLB_GUI_APP_REPORT_FOLLOWER_H_
