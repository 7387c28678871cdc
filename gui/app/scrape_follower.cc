#include "scrape_follower.h"

#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QUrl>
#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "report/prometheus_text.h"

namespace k8slb::dashboard {

ScrapeFollower::ScrapeFollower(report::ScrapeView view) : view_(std::move(view)) {}

void ScrapeFollower::start() {
  // Parented to this object so they live on (and fire in) this object's thread.
  network_ = new QNetworkAccessManager(this);
  network_->setRedirectPolicy(QNetworkRequest::ManualRedirectPolicy);
  timer_ = new QTimer(this);
  // Rounds on the interval's grid (a coarse timer may fire 5 % early or late): one per bucket.
  timer_->setTimerType(Qt::PreciseTimer);
  timer_->setInterval(static_cast<int>(view_.interval_s() * 1000));
  connect(timer_, &QTimer::timeout, this, &ScrapeFollower::scrapeNow);
  clock_.start();
  timer_->start();
  scrapeNow();
}

void ScrapeFollower::scrapeNow() {
  if (outstanding_ > 0 || network_ == nullptr) return;  // the previous round is still out
  const auto& sources = view_.health();
  outstanding_ = sources.size();
  // Every answer of the round is counted at the round's start, the moment the counters were asked.
  round_start_s_ = static_cast<double>(clock_.elapsed()) / 1000.0;
  const int timeout_ms = static_cast<int>(std::max(2.0, view_.interval_s()) * 1000);
  for (size_t i = 0; i < sources.size(); ++i) {
    QNetworkRequest request(QUrl(QString::fromStdString(sources[i].url)));
    request.setTransferTimeout(timeout_ms);
    request.setRawHeader("Accept", "text/plain;version=0.0.4");
    QNetworkReply* reply = network_->get(request);
    // A body over the parser's limit is not read to the end: abort it as it arrives.
    connect(reply, &QNetworkReply::downloadProgress, reply, [reply](qint64 received, qint64) {
      if (received > static_cast<qint64>(report::kMaxPrometheusTextBytes)) {
        reply->setProperty("k8slb_too_large", true);
        reply->abort();
      }
    });
    connect(reply, &QNetworkReply::finished, this, [this, i, reply] { OnReply(i, reply); });
  }
}

void ScrapeFollower::OnReply(size_t source, QNetworkReply* reply) {
  reply->deleteLater();
  const double t_s = round_start_s_;
  const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
  absl::StatusOr<std::string> body;
  if (reply->property("k8slb_too_large").toBool()) {
    body = absl::ResourceExhaustedError("the answer is larger than 16 MiB");
  } else if (reply->error() == QNetworkReply::OperationCanceledError ||
             reply->error() == QNetworkReply::TimeoutError) {
    body = absl::DeadlineExceededError("no answer within the timeout");
  } else if (status != 0 && status != 200) {
    body = absl::UnavailableError("HTTP " + std::to_string(status) + " (expected 200)");
  } else if (reply->error() != QNetworkReply::NoError) {
    body = absl::UnavailableError(reply->errorString().toStdString());
  } else {
    body = reply->readAll().toStdString();
  }
  (void)view_.Add(source, t_s, body);  // the problem, if any, is kept in the view's health
  if (outstanding_ > 0 && --outstanding_ == 0) {
    ++rounds_;
    emit reportChanged(view_.Snapshot(static_cast<double>(clock_.elapsed()) / 1000.0));
    emit roundFinished(rounds_);
  }
}

}  // namespace k8slb::dashboard
