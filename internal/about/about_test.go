package about

import "testing"

func TestEnvNames(t *testing.T) {
	for program, want := range map[string]string{
		"tap-customerio-webhook": "TAP_CUSTOMERIO_WEBHOOK_",
		"target-postgres":        "TARGET_POSTGRES_",
		"target.sqlite2":         "TARGET_SQLITE2_",
	} {
		if got := EnvPrefix(program); got != want {
			t.Errorf("EnvPrefix(%q) = %q, want %q", program, got, want)
		}
	}
	i := Info{EnvPrefix: "TARGET_POSTGRES_"}
	if got := i.EnvVar(Setting{Name: "batch_size_rows"}); got != "TARGET_POSTGRES_BATCH_SIZE_ROWS" {
		t.Errorf("EnvVar = %q", got)
	}
}
