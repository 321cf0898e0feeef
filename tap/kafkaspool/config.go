package kafkaspool

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Defaults for the zero fields of [Config].
const (
	DefaultTopic = "customerio-webhooks"
	// DefaultProduceTimeout stays under the 4 s Customer.io waits for an answer.
	DefaultProduceTimeout = 3 * time.Second
)

// SASL mechanisms accepted in [Config.SASLMechanism].
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Config says how to reach the cluster and which topic holds the spool. Error
// messages name the tap's config keys (kafka_*), which map one to one onto
// these fields.
type Config struct {
	Brokers []string // kafka_brokers: seed brokers, "host:port"
	Topic   string   // kafka_topic; DefaultTopic when empty
	// ProduceTimeout bounds Append (kafka_produce_timeout); DefaultProduceTimeout when zero.
	ProduceTimeout time.Duration

	TLS    bool   // kafka_tls: TLS to the brokers
	CAFile string // kafka_ca_file: PEM roots to trust instead of the system's; needs TLS

	SASLMechanism string // kafka_sasl_mechanism: "", SASLPlain, SASLScramSHA256 or SASLScramSHA512
	SASLUsername  string // kafka_sasl_username
	SASLPassword  string // kafka_sasl_password

	// Partitions are the partitions a loader emits (kafka_partitions); nil means all.
	Partitions []int32
	// AllowUnsafeTopic turns CheckTopic's refusal into a warning (kafka_allow_unsafe_topic).
	AllowUnsafeTopic bool
}

// withDefaults returns c with its zero fields set to the defaults.
func (c Config) withDefaults() Config {
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.ProduceTimeout == 0 {
		c.ProduceTimeout = DefaultProduceTimeout
	}
	return c
}

// Validate reports the first setting that cannot work, naming its config key.
// It does not contact the cluster.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka_brokers: at least one seed broker is required with spool \"kafka\"")
	}
	for i, b := range c.Brokers {
		if b == "" {
			return fmt.Errorf("kafka_brokers[%d]: empty broker address", i)
		}
	}
	if c.ProduceTimeout < 0 {
		return fmt.Errorf("kafka_produce_timeout: %v is negative", c.ProduceTimeout)
	}
	if c.CAFile != "" && !c.TLS {
		return errors.New("kafka_ca_file is set but kafka_tls is false; set kafka_tls to true")
	}
	switch c.SASLMechanism {
	case "":
		if c.SASLUsername != "" || c.SASLPassword != "" {
			return errors.New("kafka_sasl_username/kafka_sasl_password are set but kafka_sasl_mechanism is empty")
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if c.SASLUsername == "" || c.SASLPassword == "" {
			return fmt.Errorf("kafka_sasl_mechanism %s needs kafka_sasl_username and kafka_sasl_password", c.SASLMechanism)
		}
	default:
		return fmt.Errorf("kafka_sasl_mechanism: unknown mechanism %q (want %s, %s or %s)",
			c.SASLMechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
	seen := make(map[int32]bool, len(c.Partitions))
	for _, p := range c.Partitions {
		if p < 0 {
			return fmt.Errorf("kafka_partitions: partition %d is negative", p)
		}
		if seen[p] {
			return fmt.Errorf("kafka_partitions: partition %d is listed twice", p)
		}
		seen[p] = true
	}
	return nil
}

// clientOpts maps the connection settings (brokers, TLS, SASL) onto kgo
// options shared by producer, admin and loader clients.
func (c Config) clientOpts() ([]kgo.Opt, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}
	if c.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("kafka_ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("kafka_ca_file %s: no PEM certificate found", c.CAFile)
			}
			tc.RootCAs = pool
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	switch c.SASLMechanism {
	case SASLPlain:
		opts = append(opts, kgo.SASL(plain.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsMechanism()))
	case SASLScramSHA256:
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsSha256Mechanism()))
	case SASLScramSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsSha512Mechanism()))
	}
	return opts, nil
}
