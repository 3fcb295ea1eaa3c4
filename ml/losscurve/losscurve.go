// Package losscurve draws a training loss curve as a PNG with gonum/plot.
package losscurve

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// WritePNG draws the per-step training losses (and, when evalLoss is finite
// and positive, a horizontal line at the final held-out loss) to path.
func WritePNG(path, title string, losses []float64, evalLoss float64) error {
	if len(losses) == 0 {
		return errors.New("losscurve: no losses to plot")
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "step"
	p.Y.Label.Text = "loss (nats/token)"
	p.Add(plotter.NewGrid())
	pts := make(plotter.XYs, 0, len(losses))
	for i, l := range losses {
		if math.IsNaN(l) || math.IsInf(l, 0) {
			continue
		}
		pts = append(pts, plotter.XY{X: float64(i + 1), Y: l})
	}
	if len(pts) == 0 {
		return errors.New("losscurve: every loss is NaN or infinite")
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("losscurve: %w", err)
	}
	p.Add(line)
	p.Legend.Add("train (per step)", line)
	if evalLoss > 0 && !math.IsInf(evalLoss, 0) {
		ev, err := plotter.NewLine(plotter.XYs{{X: 1, Y: evalLoss}, {X: float64(len(losses)), Y: evalLoss}})
		if err != nil {
			return fmt.Errorf("losscurve: %w", err)
		}
		ev.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(ev)
		p.Legend.Add(fmt.Sprintf("held-out %.3f", evalLoss), ev)
	}
	p.Legend.Top = true
	if err := p.Save(7*vg.Inch, 4*vg.Inch, path); err != nil {
		return fmt.Errorf("losscurve: %w", err)
	}
	return nil
}
