package kafkaspool

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func TestValidateNamesTheField(t *testing.T) {
	ok := Config{Brokers: []string{"k:9092"}}
	for _, tt := range []struct {
		name string
		edit func(*Config)
		want string // "" for valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"scram-512", func(c *Config) { c.SASLMechanism, c.SASLUsername, c.SASLPassword = SASLScramSHA512, "u", "p" }, ""},
		{"tls with ca", func(c *Config) { c.TLS, c.CAFile = true, "/ca.pem" }, ""},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "kafka_brokers"},
		{"empty broker", func(c *Config) { c.Brokers = []string{""} }, "kafka_brokers[0]"},
		{"unknown mechanism", func(c *Config) { c.SASLMechanism, c.SASLUsername, c.SASLPassword = "GSSAPI", "u", "p" }, `kafka_sasl_mechanism: unknown mechanism "GSSAPI"`},
		{"lower-case mechanism", func(c *Config) { c.SASLMechanism, c.SASLUsername, c.SASLPassword = "plain", "u", "p" }, "kafka_sasl_mechanism"},
		{"mechanism without password", func(c *Config) { c.SASLMechanism, c.SASLUsername = SASLPlain, "u" }, "kafka_sasl_password"},
		{"credentials without mechanism", func(c *Config) { c.SASLUsername = "u" }, "kafka_sasl_mechanism is empty"},
		{"ca without tls", func(c *Config) { c.CAFile = "/ca.pem" }, "kafka_tls"},
		{"negative timeout", func(c *Config) { c.ProduceTimeout = -time.Second }, "kafka_produce_timeout"},
		{"negative partition", func(c *Config) { c.Partitions = []int32{-1} }, "kafka_partitions"},
		{"repeated partition", func(c *Config) { c.Partitions = []int32{1, 1} }, "kafka_partitions: partition 1 is listed twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate: %v, want it to say %q", err, tt.want)
			}
		})
	}
	if _, err := NewProducer(Config{Brokers: []string{"k:9092"}, TLS: true, CAFile: filepath.Join(t.TempDir(), "none.pem")}); err == nil ||
		!strings.Contains(err.Error(), "kafka_ca_file") {
		t.Errorf("a missing CA file: %v", err)
	}
}

// TestTLSAndSASLReachTheCluster runs a kfake cluster that speaks only TLS
// with SCRAM or PLAIN authentication.
func TestTLSAndSASLReachTheCluster(t *testing.T) {
	caFile, serverTLS := selfSignedTLS(t)
	tc := &testCluster{dir: t.TempDir()}
	tc.start(t, kfake.NumBrokers(3), kfake.TLS(serverTLS), kfake.EnableSASL(),
		kfake.Superuser(SASLScramSHA256, "scram-user", "scram-secret"),
		kfake.Superuser(SASLPlain, "plain-user", "plain-secret"),
		kfake.SeedTopics(1, "secure"))
	for _, tt := range []struct {
		mech, user, pass string
		ok               bool
	}{
		{SASLScramSHA256, "scram-user", "scram-secret", true},
		{SASLPlain, "plain-user", "plain-secret", true},
		{SASLScramSHA256, "scram-user", "wrong", false},
	} {
		cfg := Config{Brokers: tc.brokers, Topic: "secure", TLS: true, CAFile: caFile,
			SASLMechanism: tt.mech, SASLUsername: tt.user, SASLPassword: tt.pass, ProduceTimeout: 2 * time.Second}
		p := newProducer(t, cfg)
		err := p.Ready()
		if tt.ok != (err == nil) {
			t.Errorf("%s %s: Ready: %v", tt.mech, tt.pass, err)
			continue
		}
		if !tt.ok {
			continue
		}
		if _, err := p.Append(context.Background(), []byte(`{"via":"`+tt.mech+`"}`), "tok"); err != nil {
			t.Errorf("%s: Append: %v", tt.mech, err)
		}
	}
	cfg := Config{Brokers: tc.brokers, Topic: "secure", TLS: true, CAFile: caFile,
		SASLMechanism: SASLPlain, SASLUsername: "plain-user", SASLPassword: "plain-secret"}
	if got, _ := loadAll(t, cfg, Position{}); len(got) != 2 {
		t.Errorf("loaded %d records over TLS+SASL, want 2", len(got))
	}
}

// selfSignedTLS writes a CA-less self-signed certificate for 127.0.0.1 and
// returns its PEM file and a server config using it.
func selfSignedTLS(t *testing.T) (string, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}
