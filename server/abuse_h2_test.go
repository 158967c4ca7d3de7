package server

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Event is a frame from the server that a test may wait for.
type h2Event struct {
	kind     http2.FrameType
	streamID uint32
	code     http2.ErrCode
	debug    string
}

// rawH2 is a hand-driven HTTP/2 client over real mTLS, able to send what
// a well-behaved gRPC client never would.
type rawH2 struct {
	conn   *tls.Conn
	fr     *http2.Framer
	mu     sync.Mutex // serialises writes and the header encoder
	hbuf   bytes.Buffer
	henc   *hpack.Encoder
	events chan h2Event
	done   chan struct{}
}

// dialH2 completes the TLS handshake and the HTTP/2 preface as the admin,
// then answers the server's SETTINGS and PINGs in the background so the
// connection never stalls on the client's side.
func (e *env) dialH2(t *testing.T) *rawH2 {
	t.Helper()
	cfg := e.clientTLS(e.leaves[idAdmin])
	cfg.NextProtos = []string{"h2"}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", e.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &rawH2{conn: conn, fr: http2.NewFramer(conn, conn), events: make(chan h2Event, 64), done: make(chan struct{})}
	h.henc = hpack.NewEncoder(&h.hbuf)
	// The preface goes out before the reader starts: the server's SETTINGS
	// may already be waiting, and their ACK must not come first.
	_, err = io.WriteString(conn, http2.ClientPreface)
	if err == nil {
		err = h.fr.WriteSettings()
	}
	if p := conn.ConnectionState().NegotiatedProtocol; err == nil && p != "h2" {
		err = fmt.Errorf("negotiated protocol %q, want h2", p)
	}
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	go h.readLoop()
	t.Cleanup(func() {
		conn.Close()
		<-h.done
	})
	return h
}

func (h *rawH2) write(fn func(*http2.Framer) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return fn(h.fr)
}

func (h *rawH2) readLoop() {
	defer close(h.done)
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			return
		}
		// Write failures here surface in the test's own writes.
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				h.write(func(fr *http2.Framer) error { return fr.WriteSettingsAck() })
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				data := f.Data
				h.write(func(fr *http2.Framer) error { return fr.WritePing(true, data) })
			}
		case *http2.DataFrame:
			if n := f.Header().Length; n > 0 {
				h.write(func(fr *http2.Framer) error { return fr.WriteWindowUpdate(0, n) })
			}
			h.report(h2Event{kind: http2.FrameData, streamID: f.StreamID})
		case *http2.GoAwayFrame:
			h.report(h2Event{kind: http2.FrameGoAway, code: f.ErrCode, debug: string(f.DebugData())})
		case *http2.RSTStreamFrame:
			h.report(h2Event{kind: http2.FrameRSTStream, streamID: f.StreamID, code: f.ErrCode})
		}
	}
}

// report drops events nobody is waiting for, as floods produce many.
func (h *rawH2) report(ev h2Event) {
	select {
	case h.events <- ev:
	default:
	}
}

// writeHeaders sends a gRPC request's headers plus extra, split into
// CONTINUATION frames when the block outgrows one frame.
func (h *rawH2) writeHeaders(streamID uint32, path string, extra []hpack.HeaderField, endStream bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hbuf.Reset()
	fields := append([]hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "https"}, {Name: ":path", Value: path},
		{Name: ":authority", Value: "127.0.0.1"}, {Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"},
	}, extra...)
	for _, f := range fields {
		if err := h.henc.WriteField(f); err != nil {
			return err
		}
	}
	block := h.hbuf.Bytes()
	for first := true; first || len(block) > 0; first = false {
		frag := block[:min(len(block), 16<<10)]
		block = block[len(frag):]
		var err error
		if first {
			err = h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: streamID, BlockFragment: frag, EndStream: endStream, EndHeaders: len(block) == 0})
		} else {
			err = h.fr.WriteContinuation(streamID, len(block) == 0, frag)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// call starts a unary call with an empty request and half-closes it.
func (h *rawH2) call(streamID uint32, path string) error {
	if err := h.writeHeaders(streamID, path, nil, false); err != nil {
		return err
	}
	return h.write(func(fr *http2.Framer) error { return fr.WriteData(streamID, true, emptyGRPCMessage) })
}

// waitEvent returns the first event of kind within limit.
func (h *rawH2) waitEvent(t *testing.T, kind http2.FrameType, limit time.Duration) h2Event {
	t.Helper()
	timeout := time.After(limit)
	for {
		select {
		case ev := <-h.events:
			if ev.kind == kind {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %v frame from the server within %s", kind, limit)
		}
	}
}
