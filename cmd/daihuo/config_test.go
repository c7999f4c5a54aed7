package main

import (
	"flag"
	"strings"
	"testing"
)

func TestMaskURL(t *testing.T) {
	tests := []struct {
		name, dsn, want string
	}{
		{"empty", "", "(private postgres under data dir)"},
		{"no password", "postgres://app@db:5432/daihuo?sslmode=require", "postgres://app@db:5432/daihuo?sslmode=require"},
		{"user info", "postgres://daihuo:hunter2@db:5432/daihuo", "postgres://daihuo:****@db:5432/daihuo"},
		{"escaped user info", "postgres://app:hun%40ter2@db/daihuo", "postgres://app:****@db/daihuo"},
		{"empty password", "postgres://app:@db/daihuo", "postgres://app:@db/daihuo"},
		{"password parameter", "postgres://app@db:5432/daihuo?sslmode=require&password=hunter2", "postgres://app@db:5432/daihuo?sslmode=require&password=****"},
		{"sslpassword parameter", "postgresql://app@db/daihuo?sslpassword=hunter2&sslmode=verify-full", "postgresql://app@db/daihuo?sslpassword=****&sslmode=verify-full"},
		{"both and user info", "postgres://app:hunter2@db/daihuo?password=hunter2&sslpassword=hunter2", "postgres://app:****@db/daihuo?password=****&sslpassword=****"},
		{"repeated", "postgres://db/daihuo?password=a&password=hunter2", "postgres://db/daihuo?password=****&password=****"},
		{"upper case key", "postgres://db/daihuo?PASSWORD=hunter2", "postgres://db/daihuo?PASSWORD=****"},
		{"escaped key", "postgres://db/daihuo?pass%77ord=hunter2", "postgres://db/daihuo?pass%77ord=****"},
		{"semicolon", "postgres://db/daihuo?sslmode=require;password=hunter2", "postgres://db/daihuo?sslmode=require;password=****"},
		{"bad escape in key", "postgres://db/daihuo?%zzpassword=hunter2&sslmode=require", "postgres://db/daihuo?****&sslmode=require"},
		{"fragment", "postgres://db/daihuo#password=hunter2", "postgres://db/daihuo#****"},
		{"unix socket", "postgres:///daihuo?host=/run/postgresql&password=hunter2", "postgres:///daihuo?host=/run/postgresql&password=****"},
		{"key=value", "host=db user=app password=hunter2 dbname=daihuo", "****"},
		{"key=value quoted", "host=db password='a://hunter2@b' dbname=daihuo", "****"},
		{"multiple hosts", "postgres://app:hunter2@db1:5432,db2:5432/daihuo", "postgres://app:****@db1:5432,db2:5432/daihuo"},
		{"opaque", "postgres:hunter2", "****"},
		{"unescaped slash in password", "postgres://app:1234/hunter2@db/daihuo", "****"},
		{"unescaped hash in password", "postgres://app:1234#hunter2@db/daihuo", "****"},
		{"user only, no host", "postgres://app:hunter2@/daihuo", "postgres://app:****@/daihuo"},
		{"escaped user", "postgres://a%40pp:hunter2@db/daihuo", "postgres://a%40pp:****@db/daihuo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := maskURL(tt.dsn)
			if got != tt.want {
				t.Errorf("maskURL(%q) = %q, want %q", tt.dsn, got, tt.want)
			}
			if strings.Contains(got, "hunter2") {
				t.Errorf("maskURL(%q) shows the password: %q", tt.dsn, got)
			}
		})
	}
}

func TestParseRolesAPIImpliesLive(t *testing.T) {
	tests := []struct{ given, want string }{
		{"api", "api,live"},
		{"api,relay", "api,relay,live"},
		{"api,live", "api,live"},
		{"live", "live"},
		{"relay,settle", "relay,settle"},
		{"settle,relay,live,api", "api,relay,live,settle"},
	}
	for _, tt := range tests {
		roles, err := parseRoles(tt.given)
		if err != nil {
			t.Errorf("parseRoles(%q): %v", tt.given, err)
			continue
		}
		if got := roles.String(); got != tt.want {
			t.Errorf("parseRoles(%q) = %s, want %s", tt.given, got, tt.want)
		}
	}
}

// Durations and broker addresses that could never work stop the start with
// an error naming them, instead of falling back to a default or failing
// later with a broker's misleading answer.
func TestLoadConfigRefuses(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		want string // in the error; empty: accepted
	}{
		{"defaults", nil, nil, ""},
		{"brokers", nil, map[string]string{"KAFKA_BROKERS": "k1:9092, k2:9093"}, ""},
		{"negative shutdown timeout", []string{"--shutdown-timeout=-1s"}, nil, "--shutdown-timeout"},
		{"zero reservation ttl flag", []string{"--reservation-ttl=0"}, nil, "--reservation-ttl"},
		{"negative orphan grace", []string{"--orphan-grace=-1s"}, nil, "--orphan-grace"},
		{"broker without a port", nil, map[string]string{"KAFKA_BROKERS": "localhost"}, "not host:port"},
		{"broker with a word for a port", nil, map[string]string{"KAFKA_BROKERS": "k1:9092,garbage:x"}, "no valid port"},
		{"broker port out of range", nil, map[string]string{"KAFKA_BROKERS": "k1:70000"}, "no valid port"},
		{"stripe with both secrets", nil, map[string]string{"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"}, ""},
		{"stripe key without its webhook secret", nil, map[string]string{"STRIPE_SECRET_KEY": "sk_test_x"}, "needs STRIPE_WEBHOOK_SECRET"},
		{"stripe webhook secret without its key", nil, map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_x"}, "without STRIPE_SECRET_KEY"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(flag.NewFlagSet("serve", flag.ContinueOnError), tt.args, func(k string) string { return tt.env[k] })
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one naming %q", err, tt.want)
			}
		})
	}
}
