// ScrapeFollower: polls one or more Prometheus /metrics URLs every interval on the thread it lives
// on and hands the dashboard immutable Report snapshots built by report::ScrapeView (report/
// scrape.h: the conversion, tested without Qt); this class only fetches.
//
// HTTP is Qt Network's QNetworkAccessManager: the dashboard already links Qt, its requests are
// asynchronous on the worker's event loop (no thread per source, no blocking poll), and it has
// the transfer timeout and redirect policy needed; libcurl would add a link dependency to the
// dashboard and a thread or a multi-handle loop beside Qt's.
//
// Create it on any thread, moveToThread() it to a worker QThread and call start() there (or use
// it on the UI thread, as --screenshot does). One round at a time: a round whose requests are
// still out when the timer fires is not doubled. Each answer is bounded by
// report::kMaxPrometheusTextBytes (the transfer is aborted beyond it) and by a timeout of
// max(2 s, interval); redirects are refused. Signals go to the UI thread through queued
// connections.
#ifndef K8SLB_GUI_APP_SCRAPE_FOLLOWER_H_
#define K8SLB_GUI_APP_SCRAPE_FOLLOWER_H_

#include <QElapsedTimer>
#include <QObject>
#include <QStringList>
#include <QTimer>
#include <memory>
#include <optional>
#include <vector>

#include "report/scrape.h"
#include "report_follower.h"

class QNetworkAccessManager;
class QNetworkReply;

namespace k8slb::dashboard {

class ScrapeFollower : public QObject {
  Q_OBJECT

 public:
  // `view` comes from report::ScrapeView::Create (URLs and interval already checked).
  explicit ScrapeFollower(report::ScrapeView view);

  // Rounds completed so far.
  int rounds() const { return rounds_; }

 public slots:
  void start();
  void scrapeNow();

 signals:
  // After every round: the report as of now (the sources' health is in its warnings).
  void reportChanged(k8slb::dashboard::ReportPtr report);
  void roundFinished(int rounds);

 private:
  void OnReply(size_t source, QNetworkReply* reply);

  report::ScrapeView view_;
  QNetworkAccessManager* network_ = nullptr;
  QTimer* timer_ = nullptr;
  QElapsedTimer clock_;
  size_t outstanding_ = 0;
  double round_start_s_ = 0;
  int rounds_ = 0;
};

}  // namespace k8slb::dashboard

#endif  // K8SLB_GUI_APP_SCRAPE_FOLLOWER_H_
