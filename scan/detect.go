package scan

import (
	"bytes"
	"cmp"
	"io"
	"slices"
	"sync"

	"github.com/latchkeyhq/latchkey/rootkey"
)

const (
	// readSize is how much is read at a time. Memory stays bounded however
	// long a line is: blocks overlap by one key length, so a key across a
	// block boundary is still seen whole.
	readSize = 64 << 10
	minToken = 20
	maxToken = 256
)

var keyPrefix = []byte(rootkey.Prefix)

// Detector finds secrets in a byte stream. The zero Detector reports valid
// root keys only.
type Detector struct {
	// ShowInvalid also reports near misses: a root key's shape with a wrong
	// checksum, delimited by non-base62 bytes.
	ShowInvalid bool
	// Entropy also reports base64- or hex-looking tokens of 20 to 256
	// characters whose Shannon entropy is high, with confidence "low".
	Entropy bool
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, readSize+maxToken+rootkey.Len); return &b }}

// Scan reads r to its end and calls emit for every finding, in order of
// position. Path and Commit are left empty for the caller to fill. It
// returns the number of bytes read and the first read error.
func (d Detector) Scan(r io.Reader, emit func(Finding)) (int64, error) {
	return d.scan(r, emit, readSize)
}

func (d Detector) scan(r io.Reader, emit func(Finding), block int) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := (*bp)[:0]
	s := stream{d: d, emit: emit, line: 1, prev: '\n'}
	var total int64
	for {
		if cap(buf)-len(buf) < block {
			buf = slices.Grow(buf, block)
			*bp = buf[:0]
		}
		n, err := io.ReadFull(r, buf[len(buf):len(buf)+block])
		buf = buf[:len(buf)+n]
		total += int64(n)
		eof := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !eof {
			return total, err
		}
		done := s.process(buf, eof)
		if eof {
			return total, nil
		}
		buf = buf[:copy(buf, buf[done:])]
	}
}

// ScanBytes scans b as a whole stream.
func (d Detector) ScanBytes(b []byte, emit func(Finding)) {
	s := stream{d: d, emit: emit, line: 1, prev: '\n'}
	s.process(b, true)
}

type hit struct {
	off int
	f   Finding
}

// stream carries position state from one block to the next.
type stream struct {
	d    Detector
	emit func(Finding)
	hits []hit
	// base is the stream offset of the block's first byte; cur is the
	// offset up to which newlines are counted, line the line number there,
	// and lineStart the offset at which that line began.
	base, cur, lineStart int64
	line                 int64
	// prev is the byte before the block; '\n' at the start.
	prev byte
}

// process scans buf and returns how many leading bytes are finished with;
// the rest must be presented again with more data after it. At eof
// everything is finished.
func (s *stream) process(buf []byte, eof bool) int {
	done := len(buf)
	if !eof {
		// Keep a whole key length back so that the byte after a candidate
		// is always known, and an unfinished token whole.
		done = len(buf) - rootkey.Len
		if s.d.Entropy {
			if t := trailingToken(buf); t < done && len(buf)-t <= maxToken {
				done = t
			}
		}
		if done <= 0 {
			return 0
		}
	}
	s.hits = s.hits[:0]
	s.keys(buf, done)
	if s.d.Entropy {
		s.tokens(buf, done, eof)
		slices.SortStableFunc(s.hits, func(a, b hit) int { return cmp.Compare(a.off, b.off) })
	}
	for _, h := range s.hits {
		h.f.Line, h.f.Column = s.advance(buf, s.base+int64(h.off))
		s.emit(h.f)
	}
	s.advance(buf, s.base+int64(done))
	if done > 0 {
		s.prev = buf[done-1]
	}
	s.base += int64(done)
	return done
}

// advance moves the line cursor to stream offset p and returns p's line
// and column.
func (s *stream) advance(buf []byte, p int64) (int, int) {
	seg := buf[s.cur-s.base : p-s.base]
	if n := bytes.Count(seg, []byte{'\n'}); n > 0 {
		s.line += int64(n)
		s.lineStart = s.cur + int64(bytes.LastIndexByte(seg, '\n')) + 1
	}
	s.cur = p
	return int(s.line), int(p-s.lineStart) + 1
}

func (s *stream) byteBefore(buf []byte, i int) byte {
	if i == 0 {
		return s.prev
	}
	return buf[i-1]
}

// keys checks every "lk_" that starts before done.
func (s *stream) keys(buf []byte, done int) {
	for i := 0; i < done; {
		j := bytes.Index(buf[i:], keyPrefix)
		if j < 0 || i+j >= done {
			return
		}
		j += i
		i = j + 1
		if j+rootkey.Len > len(buf) {
			continue
		}
		cand := buf[j : j+rootkey.Len]
		if !keyShape(cand) {
			continue
		}
		k, err := rootkey.Parse(string(cand))
		if err == nil {
			s.hits = append(s.hits, hit{j, Finding{Rule: RuleRootKey, Confidence: High, Length: rootkey.Len,
				KeyID: k.ID(), Redacted: redactKey(cand)}})
			i = j + rootkey.Len
			continue
		}
		// A near miss must stand alone: inside a longer base62 run the
		// shape is a coincidence, not a damaged key.
		if s.d.ShowInvalid && !isBase62(s.byteBefore(buf, j)) && (j+rootkey.Len == len(buf) || !isBase62(buf[j+rootkey.Len])) {
			s.hits = append(s.hits, hit{j, Finding{Rule: RuleNearMiss, Confidence: Medium, Length: rootkey.Len,
				KeyID: string(cand[len(rootkey.Prefix) : secretPos-1]), Redacted: redactKey(cand)}})
			i = j + rootkey.Len
		}
	}
}

// keyShape checks what Parse checks except the checksum, without
// allocating, so that most non-keys cost nothing.
func keyShape(c []byte) bool {
	if c[secretPos-1] != '_' {
		return false
	}
	for i := len(rootkey.Prefix); i < len(c); i++ {
		if i != secretPos-1 && !isBase62(c[i]) {
			return false
		}
	}
	return true
}

func isBase62(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z'
}
