#include "report_follower.h"

#include <QDir>
#include <QFileInfo>

namespace k8slb::dashboard {

ReportFollower::ReportFollower(QString dir, FollowMode mode, int interval_ms)
    : dir_(std::move(dir)),
      mode_(mode),
      interval_ms_(interval_ms),
      reader_(dir_.toStdString(),
              mode == FollowMode::kFollow ? report::ReadMode::kFollow : report::ReadMode::kRecorded) {}

void ReportFollower::start() {
  pollNow();
  if (mode_ != FollowMode::kFollow) return;
  // Parented to this object so they live on (and fire in) the worker thread.
  timer_ = new QTimer(this);
  timer_->setInterval(interval_ms_);
  connect(timer_, &QTimer::timeout, this, &ReportFollower::pollNow);
  timer_->start();
  // File events come in bursts (the sim appends row by row); coalesce them for 50 ms.
  debounce_ = new QTimer(this);
  debounce_->setSingleShot(true);
  debounce_->setInterval(50);
  connect(debounce_, &QTimer::timeout, this, &ReportFollower::pollNow);
  watcher_ = new QFileSystemWatcher(this);
  connect(watcher_, &QFileSystemWatcher::directoryChanged, debounce_, qOverload<>(&QTimer::start));
  connect(watcher_, &QFileSystemWatcher::fileChanged, debounce_, qOverload<>(&QTimer::start));
  WatchFiles();
}

void ReportFollower::WatchFiles() {
  if (watcher_ == nullptr) return;
  QStringList wanted;
  if (QFileInfo(dir_).isDir()) wanted << dir_;
  if (ReportPtr r = reader_.snapshot()) {
    for (const auto& s : r->strategies) {
      const QString f = QDir(dir_).filePath(QString::fromStdString(s.timeline_csv));
      if (QFileInfo::exists(f)) wanted << f;
    }
  }
  const QStringList have = watcher_->files() + watcher_->directories();
  QStringList add;
  for (const QString& f : wanted) {
    if (!have.contains(f)) add << f;
  }
  if (!add.isEmpty()) watcher_->addPaths(add);
}

void ReportFollower::pollNow() {
  auto changed = reader_.Poll();
  if (!changed.ok()) {
    const QString msg = QString::fromStdString(std::string(changed.status().message()));
    if (msg != last_error_) {
      last_error_ = msg;
      emit readFailed(msg);
    }
    return;
  }
  if (!last_error_.isEmpty()) {
    last_error_.clear();
    emit readRecovered();
  }
  if (*changed) {
    emit reportChanged(reader_.snapshot());
    WatchFiles();
  }
}

}  // namespace k8slb::dashboard
