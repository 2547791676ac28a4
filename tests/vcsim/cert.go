package main

// The https certificate. vcsim's built-in one (Go's httptest "Acme Co" certificate) has a
// 1024-bit RSA key, which rustls refuses for the handshake signature even when the
// certificate itself is pinned by thumbprint. So -tls serves a fresh self-signed ECDSA P-256
// certificate made at start-up instead.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// selfSignedCert makes a self-signed ECDSA P-256 server certificate for 127.0.0.1, ::1,
// localhost and the extra host (an IP address or a DNS name; "" for none), valid from an
// hour ago for a day. It is a leaf certificate (not a CA), so that verifiers that treat the
// pinned certificate as the end entity accept it.
func selfSignedCert(extraHost string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating the TLS key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating the certificate serial: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "odt-vcsim", Organization: []string{"odt test vCenter simulator"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	if h := strings.Trim(extraHost, "[]"); h != "" && h != "0.0.0.0" && h != "::" {
		if ip := net.ParseIP(h); ip != nil {
			if !ip.Equal(net.ParseIP("127.0.0.1")) && !ip.Equal(net.ParseIP("::1")) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if h != "localhost" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("creating the certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("parsing the new certificate: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// thumbprint is the SHA-1 of a DER certificate as uppercase colon-separated hex, the form
// vSphere uses for sslThumbprint.
func thumbprint(der []byte) string {
	sum := sha1.Sum(der)
	return colonHex(sum[:])
}

// thumbprintSHA256 is the SHA-256 of a DER certificate as uppercase colon-separated hex.
func thumbprintSHA256(der []byte) string {
	sum := sha256.Sum256(der)
	return colonHex(sum[:])
}

func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02X", x)
	}
	return strings.Join(parts, ":")
}
