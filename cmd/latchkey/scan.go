package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	"github.com/latchkeyhq/latchkey/scan"
)

// Exit statuses of latchkey scan, fixed so that CI jobs and hooks can rely
// on them.
const (
	scanClean = 0
	scanFound = 1
	scanError = 2
)

const scanLong = `Scan files, folders, archives, standard input or git history for Latchkey
root keys (lk_<id>_...). Every candidate is confirmed by the key's checksum, offline,
so a finding is a real key; only its id and a redacted form are ever printed.

What is scanned:
  PATH ...        files and folders (default "."); "-" reads standard input.
                  Folders skip .git, what .gitignore files exclude (unless
                  --no-ignore), files over --max-size and binary files (a NUL
                  byte in the first 8 KiB). .zip, .tar, .tar.gz and .tgz are
                  opened and entries reported as archive.zip!inner/path.
  --git           every line any commit on any ref added (git log -p --all),
                  with the commit hash: finds keys removed since.
  --staged        the lines staged for the next commit (git diff --cached).

Not detected: keys split across lines, encoded (base64, hex, URL-escaped),
inside nested archives or binary files. --entropy adds a generic,
low-confidence search for random-looking tokens of 20-256 characters.

Exit status:
  0  nothing reported
  1  something reported: a valid root key, or, only when asked for with
     --show-invalid or --entropy, a near miss or a high-entropy token
  2  error: bad flag, unreadable path, not a git repository, a failed
     --revoke/--disable call

Skipped files are listed on standard error ("note: ..."); routine skips
(binary, too large) only with -v. JSON and SARIF output include them all.

Responding to a leak: --revoke revokes every distinct key found (reason
LEAKED); --disable suspends it instead (reversible, reason "leaked"). Both
use the admin client flags below and report, per key, whether it was acted
on, already revoked or disabled, or unknown to the server. Running again is
safe: it reports "already".

Pre-commit hook (.git/hooks/pre-commit, executable):

  #!/bin/sh
  # Refuse commits that add a Latchkey root key.
  exec latchkey scan --staged

CI gate with code-scanning upload:

  latchkey scan --format sarif . > latchkey.sarif`

// keyAction is what --revoke or --disable did to one key id.
type keyAction struct {
	KeyID  string `json:"key_id"`
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

const (
	actRevoked         = "revoked"
	actDisabled        = "disabled"
	actAlreadyRevoked  = "already revoked"
	actAlreadyDisabled = "already disabled"
	actExpired         = "expired, left alone"
	actUnknown         = "unknown to this server"
	actError           = "error"
)

type scanOpts struct {
	cf                                    clientFlags
	showInvalid, entropy, noIgnore        bool
	git, staged, revoke, disable, verbose bool
	maxSize                               string
	workers                               int
}

func newScanCmd() *cobra.Command { return newScanCmdWith(os.Exit) }

// newScanCmdWith takes the exit function so that tests can see the status
// without ending the test binary. The root command maps every error to
// status 1, which would blur "found" with "failed", so scan exits itself.
func newScanCmdWith(exit func(int)) *cobra.Command {
	var o scanOpts
	cmd := &cobra.Command{
		Use:   "scan [PATH ...] [--git | --staged] [--revoke | --disable]",
		Short: "Find leaked root keys in files, archives or git history",
		Long:  scanLong,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := runScan(cmd, &o, args); code != scanClean {
				exit(code)
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		fmt.Fprintf(c.ErrOrStderr(), "latchkey scan: %v\n", err)
		exit(scanError)
		return err
	})
	o.cf.register(cmd, "admin", "text, json, sarif")
	fl := cmd.Flags()
	fl.StringVar(&o.cf.output, "format", "text", "same as --output: text, json or sarif")
	fl.BoolVar(&o.showInvalid, "show-invalid", false, "also report look-alikes with a bad checksum (they then count for the exit status)")
	fl.BoolVar(&o.entropy, "entropy", false, "also report random-looking tokens, confidence low (they then count for the exit status)")
	fl.BoolVar(&o.noIgnore, "no-ignore", false, "scan what .gitignore files exclude too")
	fl.StringVar(&o.maxSize, "max-size", "10MiB", "skip files and archive entries larger than this (bytes, or with K, M, G: powers of 1024)")
	fl.IntVar(&o.workers, "workers", 0, "files scanned in parallel (default: GOMAXPROCS)")
	fl.BoolVar(&o.git, "git", false, "scan every commit's added lines in the repository at PATH (default .)")
	fl.BoolVar(&o.staged, "staged", false, "scan the lines staged for commit in the repository at PATH (default .)")
	fl.BoolVar(&o.revoke, "revoke", false, "revoke every key found, reason LEAKED (admin credentials)")
	fl.BoolVar(&o.disable, "disable", false, "disable every key found, reason \"leaked\" (admin credentials)")
	fl.BoolVarP(&o.verbose, "verbose", "v", false, "list routine skips (binary, too large) too")
	return cmd
}

// runScan does the work and returns the exit status; errors are printed
// here because the status, not the error, is what callers act on.
func runScan(cmd *cobra.Command, o *scanOpts, args []string) int {
	stderr := cmd.ErrOrStderr()
	fail := func(err error) int {
		fmt.Fprintf(stderr, "latchkey scan: %s\n", describe(err))
		return scanError
	}
	res, err := o.collect(cmd, args)
	if err != nil {
		return fail(err)
	}
	var actions []keyAction
	if ids := res.KeyIDs(); (o.revoke || o.disable) && len(ids) > 0 {
		if actions, err = o.act(cmd.Context(), ids); err != nil {
			return fail(err)
		}
	}
	if err := o.print(cmd.OutOrStdout(), stderr, res, actions); err != nil {
		return fail(err)
	}
	for _, a := range actions {
		if a.Result == actError {
			return scanError
		}
	}
	if len(res.Findings) > 0 {
		return scanFound
	}
	return scanClean
}

func (o *scanOpts) collect(cmd *cobra.Command, args []string) (*scan.Result, error) {
	if err := checkOutput(o.cf.output, "text", "json", "sarif"); err != nil {
		return nil, err
	}
	if o.revoke && o.disable {
		return nil, errors.New("--revoke and --disable exclude each other")
	}
	if o.git && o.staged {
		return nil, errors.New("--git and --staged exclude each other")
	}
	maxSize, err := parseSize(o.maxSize)
	if err != nil {
		return nil, fmt.Errorf("--max-size: %w", err)
	}
	if len(args) == 0 {
		args = []string{"."}
	}
	d := scan.Detector{ShowInvalid: o.showInvalid, Entropy: o.entropy}
	ctx := cmd.Context()
	if o.git || o.staged {
		if len(args) != 1 {
			return nil, errors.New("--git and --staged take one repository path")
		}
		if o.git {
			return scan.ScanGitHistory(ctx, args[0], d)
		}
		return scan.ScanGitStaged(ctx, args[0], d)
	}
	w, err := scan.NewWalker(scan.Config{Detector: d, MaxFileSize: maxSize, NoIgnore: o.noIgnore,
		Workers: o.workers, Stdin: cmd.InOrStdin()})
	if err != nil {
		return nil, err
	}
	return w.Scan(ctx, args...)
}

// parseSize reads "1048576", "512K", "10MiB" or "1GB"; every unit is a
// power of 1024, as file sizes on disk are.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mul    int64
	}{{"GiB", 1 << 30}, {"GB", 1 << 30}, {"G", 1 << 30}, {"MiB", 1 << 20}, {"MB", 1 << 20}, {"M", 1 << 20},
		{"KiB", 1 << 10}, {"KB", 1 << 10}, {"K", 1 << 10}, {"B", 1}}
	mul := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mul = strings.TrimSuffix(s, u.suffix), u.mul
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mul {
		return 0, fmt.Errorf("want a positive size such as 10MiB")
	}
	return n * mul, nil
}

func (o *scanOpts) print(out, stderr io.Writer, res *scan.Result, actions []keyAction) error {
	switch o.cf.output {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			*scan.Result
			Actions []keyAction `json:"actions,omitempty"`
		}{res, actions})
	case "sarif":
		if err := scan.WriteSARIF(out, res); err != nil {
			return err
		}
		// SARIF has no place for actions taken; stderr keeps stdout a
		// valid log.
		return printActions(stderr, actions)
	default:
		if err := scan.WriteText(out, stderr, res, o.verbose); err != nil {
			return err
		}
		return printActions(out, actions)
	}
}

func printActions(w io.Writer, actions []keyAction) error {
	for _, a := range actions {
		detail := ""
		if a.Detail != "" {
			detail = ": " + a.Detail
		}
		if _, err := fmt.Fprintf(w, "key %s: %s%s\n", a.KeyID, a.Result, detail); err != nil {
			return err
		}
	}
	return nil
}

// act revokes or disables each key. A failure for one key is reported
// against it and the others still get their turn: a leak response should
// not stop at the first hiccup.
func (o *scanOpts) act(ctx context.Context, ids []string) ([]keyAction, error) {
	conn, err := o.cf.dial()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	c := adminv1.NewKeyServiceClient(conn)
	out := make([]keyAction, 0, len(ids))
	for _, id := range ids {
		callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out = append(out, o.actOn(callCtx, c, id))
		cancel()
	}
	return out, nil
}

func (o *scanOpts) actOn(ctx context.Context, c adminv1.KeyServiceClient, id string) keyAction {
	a := keyAction{KeyID: id}
	failed := func(err error) keyAction {
		if status.Code(err) == codes.NotFound {
			a.Result = actUnknown
		} else {
			a.Result, a.Detail = actError, describe(err)
		}
		return a
	}
	// The RPCs succeed on a key already in the target state, so the state
	// is read first to tell "done now" from "already".
	got, err := c.GetKey(ctx, &adminv1.GetKeyRequest{KeyId: id})
	if err != nil {
		return failed(err)
	}
	switch state := got.GetKey().GetState(); {
	case state == adminv1.KeyState_KEY_STATE_REVOKED:
		a.Result = actAlreadyRevoked
	case state == adminv1.KeyState_KEY_STATE_EXPIRED:
		a.Result = actExpired
	case o.disable && state == adminv1.KeyState_KEY_STATE_DISABLED:
		a.Result = actAlreadyDisabled
	case o.disable:
		if _, err := c.DisableKey(ctx, &adminv1.DisableKeyRequest{KeyId: id, Reason: "leaked"}); err != nil {
			return failed(err)
		}
		a.Result = actDisabled
	default:
		if _, err := c.RevokeKey(ctx, &adminv1.RevokeKeyRequest{KeyId: id, Reason: adminv1.RevocationReason_REVOCATION_REASON_LEAKED}); err != nil {
			return failed(err)
		}
		a.Result = actRevoked
	}
	return a
}
