package tap

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestKafkaConfigDecodes(t *testing.T) {
	t.Parallel()
	env := map[string]string{EnvPrefix + "KAFKA_PARTITIONS": "2,3", EnvPrefix + "KAFKA_TLS": "true"}
	cfg, err := LoadConfig(strings.NewReader(`{"webhook_tokens":["`+testToken+`"],"spool":"kafka",
		"kafka_brokers":["a:9092","b:9092"],"kafka_produce_timeout":"2s","kafka_sasl_mechanism":"SCRAM-SHA-512",
		"kafka_sasl_username":"u","kafka_sasl_password":"p","kafka_allow_unsafe_topic":true}`),
		func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	k := cfg.Kafka
	if cfg.Spool != SpoolKafka || !slices.Equal(k.Brokers, []string{"a:9092", "b:9092"}) || k.Topic != "customerio-webhooks" ||
		k.ProduceTimeout != 2*time.Second || !k.TLS || k.SASLMechanism != "SCRAM-SHA-512" || k.SASLPassword != "p" ||
		!slices.Equal(k.Partitions, []int32{2, 3}) || !k.AllowUnsafeTopic {
		t.Fatalf("decoded %+v", cfg)
	}
	disk, err := LoadConfig(strings.NewReader(`{"webhook_tokens":["`+testToken+`"]}`), noEnv)
	if err != nil || disk.Spool != SpoolDisk || disk.Kafka.ProduceTimeout != 3*time.Second {
		t.Fatalf("defaults: spool %q, produce timeout %v, err %v", disk.Spool, disk.Kafka.ProduceTimeout, err)
	}
}

func TestKafkaConfigErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	const kafka = `"spool":"kafka","kafka_brokers":["a:9092"],`
	tests := []struct{ name, config, want string }{
		{"unknown spool", `"spool":"s3"`, `spool: "s3" is neither`},
		{"kafka key on disk", `"kafka_topic":"t"`, `kafka_topic: has no effect without spool "kafka"`},
		{"kafka default on disk", `"kafka_tls":false`, `kafka_tls: has no effect without spool "kafka"`},
		{"no brokers", `"spool":"kafka"`, "kafka_brokers: at least one seed broker is required"},
		{"bad timeout", kafka + `"kafka_produce_timeout":"soon"`, "kafka_produce_timeout:"},
		{"zero timeout", kafka + `"kafka_produce_timeout":"0s"`, "kafka_produce_timeout: must be positive"},
		{"bad bool", kafka + `"kafka_tls":"yes"`, "kafka_tls: must be true or false"},
		{"ca without tls", kafka + `"kafka_ca_file":"/ca.pem"`, "kafka_ca_file is set but kafka_tls is false"},
		{"bad mechanism", kafka + `"kafka_sasl_mechanism":"GSSAPI","kafka_sasl_username":"u","kafka_sasl_password":"p"`, "kafka_sasl_mechanism: unknown mechanism"},
		{"mechanism without password", kafka + `"kafka_sasl_mechanism":"PLAIN","kafka_sasl_username":"u"`, "kafka_sasl_mechanism PLAIN needs kafka_sasl_username and kafka_sasl_password"},
		{"bad partition", kafka + `"kafka_partitions":["x"]`, "kafka_partitions:"},
		{"negative partition", kafka + `"kafka_partitions":[-1]`, "kafka_partitions:"},
		{"partition twice", kafka + `"kafka_partitions":[1,1]`, "kafka_partitions: partition 1 is listed twice"},
		{"empty topic", kafka + `"kafka_topic":""`, "kafka_topic: must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := strings.TrimSuffix(`{"webhook_tokens":["`+testToken+`"],`+tt.config, ",") + "}"
			_, err := LoadConfig(strings.NewReader(config), noEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
