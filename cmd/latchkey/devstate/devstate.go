package devstate

import (
	"path/filepath"
	"time"
)

// Identities the dev client certificates carry; the dev policy grants them
// their roles.
const (
	AdminIdentity    = "spiffe://dev.latchkey.local/admin"
	WorkloadIdentity = "spiffe://dev.latchkey.local/workload/demo"
)

// DefaultDir is the state folder used when none is given.
const DefaultDir = ".latchkey"

// secretSize is the length in bytes of the pepper and the store key.
const secretSize = 32

// State names every file in a state folder.
type State struct {
	Dir string

	CAFile, CAKeyFile                 string
	ServerCertFile, ServerKeyFile     string
	AdminCertFile, AdminKeyFile       string
	WorkloadCertFile, WorkloadKeyFile string

	PepperFile, StoreKeyFile, PolicyFile string
	DataDir                              string
	// DemoRootKeyFile is written by the server, never by Ensure.
	DemoRootKeyFile string
}

// Paths names the files of the state folder dir ("" means DefaultDir). It
// does no I/O.
func Paths(dir string) State {
	if dir == "" {
		dir = DefaultDir
	}
	j := func(name string) string { return filepath.Join(dir, name) }
	return State{
		Dir:              dir,
		CAFile:           j("ca.pem"),
		CAKeyFile:        j("ca-key.pem"),
		ServerCertFile:   j("server.pem"),
		ServerKeyFile:    j("server-key.pem"),
		AdminCertFile:    j("admin.pem"),
		AdminKeyFile:     j("admin-key.pem"),
		WorkloadCertFile: j("workload.pem"),
		WorkloadKeyFile:  j("workload-key.pem"),
		PepperFile:       j("pepper"),
		StoreKeyFile:     j("store.key"),
		PolicyFile:       j("policy.yaml"),
		DataDir:          j("data"),
		DemoRootKeyFile:  j("demo-root-key"),
	}
}

// privateFiles are the files that must be 0600 whenever they exist.
func (s State) privateFiles() []string {
	return []string{
		s.CAKeyFile, s.ServerKeyFile, s.AdminKeyFile, s.WorkloadKeyFile,
		s.PepperFile, s.StoreKeyFile, s.DemoRootKeyFile,
	}
}

// writtenFiles are the files Ensure may write.
func (s State) writtenFiles() []string {
	return []string{
		s.CAFile, s.CAKeyFile, s.ServerCertFile, s.ServerKeyFile,
		s.AdminCertFile, s.AdminKeyFile, s.WorkloadCertFile, s.WorkloadKeyFile,
		s.PepperFile, s.StoreKeyFile, s.PolicyFile,
	}
}

// Ensure brings the state folder dir up to date as of now: it creates what
// is missing, re-issues any leaf certificate that is unusable or expires
// within a week, and leaves everything else byte for byte as it was.
//
// Permissions are checked before anything is written, so a folder with an
// exposed key is reported, not added to.
func Ensure(dir string, now time.Time) (State, error) {
	s := Paths(dir)
	if err := ensureDir(s.Dir); err != nil {
		return State{}, err
	}
	for _, p := range s.privateFiles() {
		if err := checkPrivate(p); err != nil {
			return State{}, err
		}
	}
	names := make([]string, 0, len(s.writtenFiles()))
	for _, p := range s.writtenFiles() {
		names = append(names, filepath.Base(p))
	}
	if err := removeTemps(s.Dir, names); err != nil {
		return State{}, err
	}
	ca, err := ensureCA(s, now)
	if err != nil {
		return State{}, err
	}
	for _, l := range s.leaves() {
		if err := ensureLeaf(ca, l, now); err != nil {
			return State{}, err
		}
	}
	for _, p := range []string{s.PepperFile, s.StoreKeyFile} {
		if err := ensureSecret(p, secretSize); err != nil {
			return State{}, err
		}
	}
	if err := ensureFile(s.PolicyFile, []byte(devPolicy), publicMode); err != nil {
		return State{}, err
	}
	if err := ensureDir(s.DataDir); err != nil {
		return State{}, err
	}
	return s, nil
}
