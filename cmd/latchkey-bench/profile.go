package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// profileScenario runs sc once more at conc, unreported, while the server
// records a CPU profile of the whole run, and saves it in o.profileDir
// with a heap profile taken at the end.
func profileScenario(ctx context.Context, o *options, srv *serverProc, sc scenario, conc int, env *phaseEnv) error {
	if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
		return err
	}
	secs := max(1, int((o.warmup+o.duration).Round(time.Second)/time.Second))
	name := strings.NewReplacer("/", "_", "=", "-").Replace(sc.name) + fmt.Sprintf("_c%d.pprof", conc)
	path := filepath.Join(o.profileDir, name)
	fetched := make(chan error, 1)
	go func() {
		fetched <- fetchProfile(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", srv.pprofAddr, secs), secs, path)
	}()
	spec := loadSpec{concurrency: conc, warmup: 0, duration: time.Duration(secs) * time.Second, maxRequests: maxRequestsPerRun, callTimeout: callTimeout}
	if _, err := runLoad(ctx, spec, func(w int) caller { return sc.newCaller(env, w) },
		func() (time.Duration, error) { return processCPU(srv.pid()) }); err != nil {
		return err
	}
	if err := <-fetched; err != nil {
		return err
	}
	return fetchProfile(ctx, "http://"+srv.pprofAddr+"/debug/pprof/heap", 0, strings.TrimSuffix(path, ".pprof")+".heap")
}

func fetchProfile(ctx context.Context, url string, secs int, path string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %s", resp.Status)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
