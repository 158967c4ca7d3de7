package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/latchkeyhq/latchkey/pki"
)

const (
	defaultStateDir = ".latchkey"
	defaultAddr     = "127.0.0.1:7443"
	defaultHTTPAddr = "127.0.0.1:7444"
	addrFile        = "addr"
)

// clientFlags are the connection flags every client command shares. Unset
// certificate flags fall back to the dev state folder.
type clientFlags struct {
	state, addr, cert, key, ca string
	output                     string
	// who names the dev certificate used by default: "admin" or "workload".
	who string
}

func (f *clientFlags) register(cmd *cobra.Command, who string, outputs string) {
	f.who = who
	fl := cmd.Flags()
	fl.StringVar(&f.state, "state", defaultStateDir, "dev state folder to take the address and certificates from")
	fl.StringVar(&f.state, "state-dir", defaultStateDir, "same as --state")
	fl.StringVar(&f.addr, "addr", "", "server address host:port (default: the dev server's, else "+defaultAddr+")")
	fl.StringVar(&f.cert, "cert", "", "client certificate PEM (default: <state>/"+who+".pem)")
	fl.StringVar(&f.key, "key", "", "client private key PEM (default: <state>/"+who+"-key.pem)")
	fl.StringVar(&f.ca, "ca", "", "CA bundle that signed the server certificate (default: <state>/ca.pem)")
	fl.StringVarP(&f.output, "output", "o", "text", "output format: "+outputs)
}

func (f *clientFlags) resolve() {
	if f.cert == "" {
		f.cert = filepath.Join(f.state, f.who+".pem")
	}
	if f.key == "" {
		f.key = filepath.Join(f.state, f.who+"-key.pem")
	}
	if f.ca == "" {
		f.ca = filepath.Join(f.state, "ca.pem")
	}
	if f.addr == "" {
		f.addr = defaultAddr
		if b, err := os.ReadFile(filepath.Join(f.state, addrFile)); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			f.addr = strings.TrimSpace(string(b))
		}
	}
}

func (f *clientFlags) dial() (*grpc.ClientConn, error) {
	f.resolve()
	cert, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, fmt.Errorf("client certificate %s / key %s: %w", f.cert, f.key, err)
	}
	caPEM, err := os.ReadFile(f.ca)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool, err := pki.LoadPool(caPEM)
	if err != nil {
		return nil, fmt.Errorf("CA file %s: %w", f.ca, err)
	}
	creds := credentials.NewTLS(&tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
	})
	return grpc.NewClient(f.addr, grpc.WithTransportCredentials(creds))
}

var jsonOut = protojson.MarshalOptions{UseProtoNames: true}

// printJSON writes one protojson object on one line.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := jsonOut.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

func checkOutput(got string, allowed ...string) error {
	for _, a := range allowed {
		if got == a {
			return nil
		}
	}
	return fmt.Errorf("--output %q: want one of %s", got, strings.Join(allowed, ", "))
}

// readSecret takes a secret from a file ("-" for stdin) or an environment
// variable, never from the command line, where other users could see it.
func readSecret(file, env, what string, stdin io.Reader) (string, error) {
	var raw []byte
	var err error
	switch {
	case file == "-":
		raw, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	case file != "":
		raw, err = os.ReadFile(file)
	case os.Getenv(env) != "":
		raw = []byte(os.Getenv(env))
	default:
		return "", fmt.Errorf("no %s given: use --%s-file FILE (or - for stdin) or set %s", what, strings.ReplaceAll(what, " ", "-"), env)
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", what, err)
	}
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return "", errors.New(what + " is empty")
	}
	return s, nil
}

func envSet(name string) bool { return os.Getenv(name) != "" }
