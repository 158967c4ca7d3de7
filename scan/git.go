package scan

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// ErrNoGit is returned when the git binary cannot be found.
var ErrNoGit = errors.New("scan: git not found in PATH")

// GitError reports a git command that failed, with what git said.
type GitError struct {
	Args   []string
	Stderr string
	Err    error
}

func (e *GitError) Error() string {
	return fmt.Sprintf("git %s: %v: %s", strings.Join(e.Args, " "), e.Err, strings.TrimSpace(e.Stderr))
}
func (e *GitError) Unwrap() error { return e.Err }

// diffArgs make git print only added and removed lines, with no colour,
// no external diff driver and no rename detection, so that every added
// line appears once with its line number in the new file.
var diffArgs = []string{"--no-color", "--no-ext-diff", "--no-renames", "--unified=0", "--no-textconv"}

// ScanGitHistory scans the lines every commit on every ref added, in the
// repository at repo. A finding's Commit is the commit that added the
// line and Line its number in that commit's version of the file.
func ScanGitHistory(ctx context.Context, repo string, d Detector) (*Result, error) {
	args := append([]string{"log", "-p", "--all", "--format=commit %H"}, diffArgs...)
	return runGit(ctx, repo, d, args)
}

// ScanGitStaged scans the lines staged for the next commit, as a
// pre-commit hook sees them. Findings have no Commit.
func ScanGitStaged(ctx context.Context, repo string, d Detector) (*Result, error) {
	args := append([]string{"diff", "--cached"}, diffArgs...)
	return runGit(ctx, repo, d, args)
}

func runGit(ctx context.Context, repo string, d Detector, args []string) (*Result, error) {
	bin, err := exec.LookPath("git")
	if err != nil {
		return nil, ErrNoGit
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"-C", repo, "-c", "core.quotePath=false"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, &GitError{Args: args, Err: err}
	}
	res := &Result{}
	perr := parseDiff(out, d, res)
	if perr != nil {
		// Unblock git before waiting for it.
		_, _ = io.Copy(io.Discard, out)
	}
	if err := cmd.Wait(); err != nil {
		return nil, &GitError{Args: args, Stderr: stderr.String(), Err: err}
	}
	if perr != nil {
		return nil, perr
	}
	res.sort()
	return res, nil
}

// diffState follows a unified diff with zero context lines.
type diffState struct {
	commit, file string
	// newLine is the next added line's number; oldLeft and newLeft count
	// the lines left in the current hunk, which tells content lines from
	// headers that look the same ("+++ b/x" against an added "++ b/x").
	newLine, oldLeft, newLeft int
	files                     map[string]bool
}

func parseDiff(r io.Reader, d Detector, res *Result) error {
	br := bufio.NewReaderSize(r, 64<<10)
	st := diffState{files: map[string]bool{}}
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			st.line(bytes.TrimSuffix(line, []byte{'\n'}), d, res)
		}
		if errors.Is(err, io.EOF) {
			res.Files = len(st.files)
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (st *diffState) line(l []byte, d Detector, res *Result) {
	if st.oldLeft > 0 || st.newLeft > 0 {
		switch {
		case len(l) > 0 && l[0] == '-':
			st.oldLeft--
		case len(l) > 0 && l[0] == '+':
			st.newLeft--
			if st.file != "" {
				res.Bytes += int64(len(l) - 1)
				n := st.newLine
				d.ScanBytes(l[1:], func(f Finding) {
					f.Path, f.Commit, f.Line = st.file, st.commit, n
					res.Findings = append(res.Findings, f)
				})
			}
			st.newLine++
		}
		return
	}
	s := string(l)
	switch {
	case strings.HasPrefix(s, "commit "):
		st.commit = strings.TrimPrefix(s, "commit ")
	case strings.HasPrefix(s, "+++ "):
		st.file = diffPath(strings.TrimPrefix(s, "+++ "))
		if st.file != "" {
			st.files[st.file] = true
		}
	case strings.HasPrefix(s, "@@ "):
		st.hunk(s)
	}
}

// hunk reads "@@ -a[,b] +c[,d] @@".
func (st *diffState) hunk(s string) {
	fields := strings.Fields(s)
	if len(fields) < 3 {
		return
	}
	_, st.oldLeft = hunkRange(fields[1])
	st.newLine, st.newLeft = hunkRange(fields[2])
}

func hunkRange(f string) (start, count int) {
	f = f[1:]
	count = 1
	if a, b, ok := strings.Cut(f, ","); ok {
		f = a
		count, _ = strconv.Atoi(b)
	}
	start, _ = strconv.Atoi(f)
	return start, count
}

// diffPath turns "b/path" (or a quoted form of it) into "path", and
// "/dev/null", a deletion, into "".
func diffPath(p string) string {
	// git ends the name with a tab when it holds a space.
	p = strings.TrimSuffix(p, "\t")
	if strings.HasPrefix(p, `"`) {
		if u, err := strconv.Unquote(p); err == nil {
			p = u
		}
	}
	if p == "/dev/null" {
		return ""
	}
	return strings.TrimPrefix(p, "b/")
}
