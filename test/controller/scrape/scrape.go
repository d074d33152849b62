// Package scrape reads a Prometheus text exposition (a /metrics page) and
// looks up single series in it. Tests and the demo use it to watch the
// driver from the outside, exactly as Prometheus would.
package scrape

import (
	"context"
	"fmt"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are the metric families of one scrape, by name.
type Families map[string]*dto.MetricFamily

// Get fetches url and parses the text format. The request asks for plain
// text only, so the handler never answers in the protobuf or OpenMetrics
// formats this parser does not read.
func Get(ctx context.Context, url string) (Families, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return fams, nil
}

// Value returns the value of the counter, gauge or untyped series of name
// whose labels include all of labels; ok is false when there is none.
func (f Families) Value(name string, labels map[string]string) (v float64, ok bool) {
	m := f.find(name, labels)
	switch {
	case m == nil:
		return 0, false
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	case m.Untyped != nil:
		return m.Untyped.GetValue(), true
	}
	return 0, false
}

// Histogram returns the sample count and sum of a histogram series.
func (f Families) Histogram(name string, labels map[string]string) (count uint64, sum float64, ok bool) {
	m := f.find(name, labels)
	if m == nil || m.Histogram == nil {
		return 0, 0, false
	}
	return m.Histogram.GetSampleCount(), m.Histogram.GetSampleSum(), true
}

// Series returns every series of name as its label set and value (counters,
// gauges and untyped only), e.g. to find the one state gauge that is 1.
func (f Families) Series(name string) []Sample {
	fam := f[name]
	if fam == nil {
		return nil
	}
	var out []Sample
	for _, m := range fam.GetMetric() {
		s := Sample{Labels: map[string]string{}}
		for _, l := range m.GetLabel() {
			s.Labels[l.GetName()] = l.GetValue()
		}
		switch {
		case m.Counter != nil:
			s.Value = m.Counter.GetValue()
		case m.Gauge != nil:
			s.Value = m.Gauge.GetValue()
		case m.Untyped != nil:
			s.Value = m.Untyped.GetValue()
		default:
			continue
		}
		out = append(out, s)
	}
	return out
}

// Sample is one series of a scrape.
type Sample struct {
	Labels map[string]string
	Value  float64
}

func (f Families) find(name string, labels map[string]string) *dto.Metric {
	fam := f[name]
	if fam == nil {
		return nil
	}
next:
	for _, m := range fam.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}
