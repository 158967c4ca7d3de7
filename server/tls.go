package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// TLSConfig returns the server's TLS configuration: TLS 1.3 only, client
// certificates required and verified against clientCAs with the clientAuth
// extended key usage (Go enforces the EKU under RequireAndVerifyClientCert).
//
// Session tickets are disabled so that every connection runs a full handshake
// and chain verification: a resumed session would skip re-verifying a client
// certificate whose CA has since been removed from the bundle.
func TLSConfig(cert tls.Certificate, clientCAs *x509.CertPool) (*tls.Config, error) {
	if len(cert.Certificate) == 0 {
		return nil, errors.New("server: TLS certificate is empty")
	}
	if clientCAs == nil {
		return nil, errors.New("server: client CA bundle is required")
	}
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{cert},
		ClientAuth:             tls.RequireAndVerifyClientCert,
		ClientCAs:              clientCAs,
		SessionTicketsDisabled: true,
		NextProtos:             []string{"h2"},
	}, nil
}
