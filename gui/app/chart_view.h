// DashboardChartView: a QChartView for charts with a time x axis. It draws the scenario's event
// markers (a dashed vertical line and a label per event, labels on lanes so close events do not
// overlap) and pod lifecycle ticks (ready / deleted) over the plot area in whatever range the
// axis currently shows, shows an event's or pod's detail when the mouse is near its marker, and zooms the time axis with a horizontal rubber
// band (right click zooms out; MainWindow's "Reset zoom" restores the full run). A live run's
// provisional buckets are shaded and labelled "provisional".
//
// A widget: create and use it on the UI thread only.
#ifndef K8SLB_GUI_APP_CHART_VIEW_H_
#define K8SLB_GUI_APP_CHART_VIEW_H_

#include <QChartView>
#include <optional>
#include <vector>

#include "model/dashboard_model.h"

namespace k8slb::dashboard {

class DashboardChartView : public QChartView {
  Q_OBJECT

 public:
  explicit DashboardChartView(QWidget* parent = nullptr);

  // Replaces the chart (the view owns it) and deletes the previous one.
  void ReplaceChart(QChart* chart);
  void SetEventMarkers(std::vector<EventMarker> markers);
  // Small triangles on the time axis: ▲ a pod became ready, ▼ a pod was deleted.
  void SetPodMarkers(std::vector<PodMarker> markers);
  // Shades the plot from `t_s` on: the buckets of a live run that are still provisional (their
  // straggler window is open, their counts may grow). nullopt: every bucket is final.
  void SetProvisionalFrom(std::optional<double> t_s);
  std::optional<double> provisional_from() const { return provisional_from_; }
  const std::vector<EventMarker>& event_markers() const { return markers_; }

 protected:
  void drawForeground(QPainter* painter, const QRectF& rect) override;
  void mouseMoveEvent(QMouseEvent* event) override;

 private:
  // Scene x of a marker, or nullopt when the time axis does not show it.
  std::optional<double> MarkerX(double t_s) const;

  std::vector<EventMarker> markers_;
  std::vector<PodMarker> pod_markers_;
  std::optional<double> provisional_from_;
};

}  // namespace k8slb::dashboard

#endif  // K8SLB_GUI_APP_CHART_VIEW_H_
