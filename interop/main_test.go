package interop

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test starts an HTTPS server and clients with keep-alive connections;
// a goroutine left behind means one of them was not shut down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
