//go:build unix

package server

import (
	"errors"
	"net"
	"syscall"
)

// waitReadable blocks until conn has bytes to read (or is closed), without
// reading them: a goroutine parked here has a stack of a few small frames,
// where one parked in a WebSocket read has the reader's and the frame
// parser's on top. A connection that is not a plain socket (TLS) returns
// at once.
func waitReadable(conn net.Conn) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Not yet: the poller parks the goroutine until the socket is
		// readable. Anything else (a byte, the end, an error) is for the
		// read that follows to find.
		return !errors.Is(err, syscall.EAGAIN)
	})
}
