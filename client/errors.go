package client

import "errors"

var (
	// ErrClosed is returned by Token after Close.
	ErrClosed = errors.New("client: closed")
	// ErrNoToken is returned, wrapping the last exchange error, when no
	// unexpired token is cached and the next exchange attempt is not due yet.
	ErrNoToken = errors.New("client: no valid token")
	// ErrRootKeyRejected is Bootstrap's answer when the server does not
	// accept the root key. The server gives one answer for every cause, so
	// this cannot say which.
	ErrRootKeyRejected = errors.New("root key rejected (revoked, expired or unknown)")
	// ErrCertificateNotAllowed is Bootstrap's answer when the server accepts
	// the root key's secret but not from the identity in this certificate.
	ErrCertificateNotAllowed = errors.New("this certificate may not present the root key")
)
