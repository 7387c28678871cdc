#include "chart_view.h"

#include <QChart>
#include <QFontMetrics>
#include <QMouseEvent>
#include <QPainter>
#include <QPolygonF>
#include <QToolTip>
#include <QValueAxis>
#include <cmath>

namespace k8slb::dashboard {

namespace {
constexpr QRgb kMarkerColor = 0x5a1e1e;  // not in any series palette: markers never count as a series
constexpr double kHoverPx = 5.0;
constexpr QRgb kReadyColor = 0x2e7d32;    // pod became ready
constexpr QRgb kDeletedColor = 0xc62828;  // pod deleted
constexpr double kTriangle = 8.0;         // pod marker size in pixels

QValueAxis* TimeAxis(QChart* chart) {
  if (chart == nullptr) return nullptr;
  const auto axes = chart->axes(Qt::Horizontal);
  for (QAbstractAxis* a : axes) {
    if (auto* v = qobject_cast<QValueAxis*>(a)) return v;
  }
  return nullptr;
}
}  // namespace

DashboardChartView::DashboardChartView(QWidget* parent) : QChartView(parent) {
  setRenderHint(QPainter::Antialiasing, true);
  setRubberBand(QChartView::HorizontalRubberBand);
  setMouseTracking(true);
}

void DashboardChartView::ReplaceChart(QChart* chart) {
  QChart* old = this->chart();
  setChart(chart);  // releases (does not delete) the previous chart
  if (old != nullptr && old != chart) old->deleteLater();
  viewport()->update();
}

void DashboardChartView::SetEventMarkers(std::vector<EventMarker> markers) {
  markers_ = std::move(markers);
  viewport()->update();
}

void DashboardChartView::SetPodMarkers(std::vector<PodMarker> markers) {
  pod_markers_ = std::move(markers);
  viewport()->update();
}

std::optional<double> DashboardChartView::MarkerX(double t_s) const {
  QChart* c = chart();
  QValueAxis* axis = TimeAxis(c);
  if (axis == nullptr || t_s < axis->min() || t_s > axis->max()) return std::nullopt;
  const QRectF plot = c->plotArea();
  const double span = axis->max() - axis->min();
  if (span <= 0) return std::nullopt;
  const double x = plot.left() + (t_s - axis->min()) / span * plot.width();
  return c->mapToScene(QPointF(x, 0)).x();
}

void DashboardChartView::SetProvisionalFrom(std::optional<double> t_s) {
  provisional_from_ = t_s;
  viewport()->update();
}

void DashboardChartView::drawForeground(QPainter* painter, const QRectF& rect) {
  QChartView::drawForeground(painter, rect);
  QChart* c = chart();
  if (c == nullptr || (markers_.empty() && pod_markers_.empty() && !provisional_from_)) return;
  const QRectF plot = c->mapRectToScene(c->plotArea());
  painter->save();
  if (provisional_from_) {
    // Where the axis shows the provisional part: from its start (or the plot's left edge when
    // the axis starts later) to the right edge.
    QValueAxis* axis = TimeAxis(c);
    const std::optional<double> x = MarkerX(*provisional_from_);
    const bool all = axis != nullptr && *provisional_from_ <= axis->min();
    if (x || all) {
      const double left = x ? *x : plot.left();
      const QRectF band(QPointF(left, plot.top()), QPointF(plot.right(), plot.bottom()));
      painter->fillRect(band, QColor(120, 120, 120, 45));
      painter->setPen(QColor::fromRgb(kMarkerColor));
      const QString label = "provisional";
      const QFontMetrics fm(painter->font());
      const QRectF box(plot.right() - fm.horizontalAdvance(label) - 6, plot.bottom() - fm.height() - 2,
                       fm.horizontalAdvance(label) + 4, fm.height());
      painter->drawText(box, Qt::AlignCenter, label);
    }
  }
  painter->setRenderHint(QPainter::Antialiasing, false);
  QFont font = painter->font();
  font.setPointSizeF(std::max(6.0, font.pointSizeF() * 0.85));
  painter->setFont(font);
  const QFontMetrics fm(font);
  QPen pen(QColor::fromRgb(kMarkerColor));
  pen.setStyle(Qt::DashLine);
  pen.setWidthF(1.0);
  // Pod lifecycle: triangles pointing into the plot from its bottom edge; when several pods change
  // at the same moment their triangles stack upwards.
  painter->setRenderHint(QPainter::Antialiasing, true);
  double last_t = -1;
  int stack = 0;
  for (const PodMarker& m : pod_markers_) {
    const auto x = MarkerX(m.t_s);
    if (!x) continue;
    stack = std::abs(m.t_s - last_t) < 1e-9 ? stack + 1 : 0;
    last_t = m.t_s;
    const double base = plot.bottom() - 1 - stack * (kTriangle + 1);
    QPolygonF tri;
    if (m.kind == PodMarkerKind::kReady) {
      tri << QPointF(*x - kTriangle / 2, base) << QPointF(*x + kTriangle / 2, base) << QPointF(*x, base - kTriangle);
    } else {
      tri << QPointF(*x - kTriangle / 2, base - kTriangle) << QPointF(*x + kTriangle / 2, base - kTriangle)
          << QPointF(*x, base);
    }
    const QColor color = QColor::fromRgb(m.kind == PodMarkerKind::kReady ? kReadyColor : kDeletedColor);
    painter->setPen(QPen(Qt::white, 0.8));
    painter->setBrush(color);
    painter->drawPolygon(tri);
  }
  painter->setRenderHint(QPainter::Antialiasing, false);
  painter->setBrush(Qt::NoBrush);
  for (const EventMarker& m : markers_) {
    const auto x = MarkerX(m.t_s);
    if (!x) continue;
    painter->setPen(pen);
    painter->drawLine(QPointF(*x, plot.top()), QPointF(*x, plot.bottom()));
    const QString label = QString::fromStdString(m.label);
    const double y = plot.top() + 2 + m.lane * (fm.height() + 1);
    QRectF box(*x + 2, y, fm.horizontalAdvance(label) + 4, fm.height());
    if (box.right() > plot.right()) box.moveRight(*x - 2);  // keep labels inside the plot
    painter->fillRect(box, QColor(255, 255, 255, 235));
    painter->setPen(QColor::fromRgb(kMarkerColor));
    painter->drawText(box, Qt::AlignCenter, label);
  }
  painter->restore();
}

void DashboardChartView::mouseMoveEvent(QMouseEvent* event) {
  QChartView::mouseMoveEvent(event);
  const QPointF scene = mapToScene(event->position().toPoint());
  QString text;
  for (const EventMarker& m : markers_) {
    const auto x = MarkerX(m.t_s);
    if (x && std::abs(*x - scene.x()) <= kHoverPx) {
      if (!text.isEmpty()) text += "\n";
      text += QString("t=%1 s  %2: %3")
                  .arg(m.t_s, 0, 'f', 2)
                  .arg(QString::fromStdString(m.label), QString::fromStdString(m.detail));
    }
  }
  // Pod ticks sit in the bottom strip of the plot.
  QChart* c = chart();
  const QRectF plot = c == nullptr ? QRectF() : c->mapRectToScene(c->plotArea());
  if (c != nullptr && scene.y() <= plot.bottom() + 1 && scene.y() >= plot.bottom() - 4 * (kTriangle + 1)) {
    for (const PodMarker& m : pod_markers_) {
      const auto x = MarkerX(m.t_s);
      if (x && std::abs(*x - scene.x()) <= kHoverPx) {
        if (!text.isEmpty()) text += "\n";
        text += QString("t=%1 s  %2%3 %4")
                    .arg(m.t_s, 0, 'f', 2)
                    .arg(QString::fromStdString(m.pod))
                    .arg(m.zone.empty() ? QString() : QString(" (zone %1)").arg(QString::fromStdString(m.zone)))
                    .arg(m.kind == PodMarkerKind::kReady ? "became ready" : "was deleted");
      }
    }
  }
  if (!text.isEmpty()) QToolTip::showText(event->globalPosition().toPoint(), text, this);
}

}  // namespace k8slb::dashboard
