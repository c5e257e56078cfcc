package main_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGTERM with SHUTDOWN_DRAIN: /readyz answers 503 at once while the API is
// still served (the load balancer takes the instance out before it stops
// listening); after the drain the process exits cleanly.
func TestShutdownDrainsBeforeClosing(t *testing.T) {
	t.Parallel()
	p := start(t, "DATA_DIR="+t.TempDir(), "SHUTDOWN_DRAIN=3s")
	get := func(path string) (int, error) {
		res, err := http.Get("http://" + p.addr + path)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, nil
	}
	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()

	// /readyz fails within moments of the signal...
	for {
		status, err := get("/readyz")
		if err != nil {
			t.Fatalf("/readyz while draining: %v\n%s", err, p.log)
		}
		if status == http.StatusServiceUnavailable {
			break
		}
		if time.Since(signalled) > 2*time.Second {
			t.Fatalf("/readyz still %d %v after the signal", status, time.Since(signalled))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// ...while the API and /healthz still answer.
	if status, err := get("/healthz"); err != nil || status != http.StatusOK {
		t.Errorf("/healthz while draining: %d %v", status, err)
	}
	res, err := http.Post("http://"+p.addr+"/graphql", "application/json", bytes.NewReader([]byte(`{"query":"{ __typename }"}`)))
	if err != nil {
		t.Fatalf("a query while draining: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "Query") {
		t.Errorf("a query while draining: %d %s", res.StatusCode, body)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, p.log)
		}
		if d := time.Since(signalled); d < 3*time.Second {
			t.Errorf("exited %v after the signal, before the 3s drain", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit after SIGTERM\n%s", p.log)
	}
	if !strings.Contains(p.log.String(), "stopped") {
		t.Errorf("no clean stop in the log:\n%s", p.log)
	}
}

// METRICS_ADDR serves /metrics on an address of its own, for operators,
// and takes it off the public one.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	t.Parallel()
	metricsAddr := freeAddr(t)
	p := start(t, "DATA_DIR="+t.TempDir(), "METRICS_ADDR="+metricsAddr)
	res, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "usermanager_jobs{state=") ||
		!strings.Contains(string(body), `go_sql_open_connections{db_name="writes"}`) {
		t.Errorf("METRICS_ADDR /metrics: %d\n%.2000s", res.StatusCode, body)
	}
	res, err = http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusOK {
		t.Errorf("/metrics is still served on HTTP_ADDR")
	}
	p.stop(t)
}
