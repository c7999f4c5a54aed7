package live

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/money"
)

var t0 = time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)

func TestStreamTransitions(t *testing.T) {
	tests := []struct {
		name    string
		from    Status
		action  string
		want    Status
		wantErr bool
	}{
		{"start scheduled", StatusScheduled, "start", StatusLive, false},
		{"start live", StatusLive, "start", StatusLive, true},
		{"start ended", StatusEnded, "start", StatusEnded, true},
		{"end live", StatusLive, "end", StatusEnded, false},
		{"end scheduled cancels", StatusScheduled, "end", StatusEnded, false},
		{"end ended", StatusEnded, "end", StatusEnded, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Stream{Status: tt.from}
			var err error
			if tt.action == "start" {
				err = s.Start(t0)
			} else {
				err = s.End(t0)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			var e *errs.Error
			if err != nil && (!errors.As(err, &e) || e.Code != errs.CodeInvalidState) {
				t.Fatalf("err = %v, want code invalid_state", err)
			}
			if s.Status != tt.want {
				t.Fatalf("status = %s, want %s", s.Status, tt.want)
			}
		})
	}
}

func TestOffset(t *testing.T) {
	s := Stream{Status: StatusScheduled}
	if got := s.Offset(t0); got != 0 {
		t.Fatalf("offset before start = %v", got)
	}
	_ = s.Start(t0)
	if got := s.Offset(t0.Add(90 * time.Second)); got != 90*time.Second {
		t.Fatalf("offset = %v, want 90s", got)
	}
	if got := s.Offset(t0.Add(-time.Second)); got != 0 {
		t.Fatalf("offset before start = %v, want 0", got)
	}
}

func TestNewStreamValidation(t *testing.T) {
	soon := t0.Add(time.Hour)
	far := t0.AddDate(2, 0, 0)
	tests := []struct {
		name   string
		in     NewStream
		fields []string
	}{
		{"ok", NewStream{Title: " Friday drop ", Currency: "EUR", PlaybackURL: "https://cdn.example/live.m3u8", ScheduledAt: &soon}, nil},
		{"empty title", NewStream{Title: "  ", Currency: "EUR"}, []string{"title"}},
		{"long title", NewStream{Title: strings.Repeat("x", 201), Currency: "EUR"}, []string{"title"}},
		{"control char", NewStream{Title: "a\x00b", Currency: "EUR"}, []string{"title"}},
		{"bad currency", NewStream{Title: "t", Currency: "EURO"}, []string{"currency"}},
		{"lowercase currency", NewStream{Title: "t", Currency: "eur"}, []string{"currency"}},
		{"ftp url", NewStream{Title: "t", Currency: "JPY", PlaybackURL: "ftp://x/y"}, []string{"playback_url"}},
		{"relative url", NewStream{Title: "t", Currency: "JPY", PlaybackURL: "/live.m3u8"}, []string{"playback_url"}},
		{"too far", NewStream{Title: "t", Currency: "JPY", ScheduledAt: &far}, []string{"scheduled_at"}},
		{"all bad", NewStream{Currency: "X"}, []string{"title", "currency"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			err := in.normalize(t0)
			assertFields(t, err, tt.fields)
			if err == nil && in.Title != strings.TrimSpace(tt.in.Title) {
				t.Fatalf("title not trimmed: %q", in.Title)
			}
		})
	}
}

func TestFlashValidation(t *testing.T) {
	eur := money.Money{Amount: 999, Currency: "EUR"}
	ok := NewFlash{Price: eur, Quantity: 100, PerBuyerLimit: 2, EndsAt: t0.Add(10 * time.Minute)}
	tests := []struct {
		name   string
		mod    func(*NewFlash)
		fields []string
	}{
		{"ok", func(*NewFlash) {}, nil},
		{"other currency", func(f *NewFlash) { f.Price.Currency = "JPY" }, []string{"price.currency"}},
		{"zero price", func(f *NewFlash) { f.Price.Amount = 0 }, []string{"price.amount"}},
		{"negative price", func(f *NewFlash) { f.Price.Amount = -1 }, []string{"price.amount"}},
		{"zero quantity", func(f *NewFlash) { f.Quantity = 0 }, []string{"quantity", "per_buyer_limit"}},
		{"huge quantity", func(f *NewFlash) { f.Quantity = MaxFlashQuantity + 1 }, []string{"quantity"}},
		{"limit above quantity", func(f *NewFlash) { f.PerBuyerLimit = 101 }, []string{"per_buyer_limit"}},
		{"negative limit", func(f *NewFlash) { f.PerBuyerLimit = -1 }, []string{"per_buyer_limit"}},
		{"ended", func(f *NewFlash) { f.EndsAt = t0 }, []string{"ends_at"}},
		{"too long", func(f *NewFlash) { f.EndsAt = t0.Add(25 * time.Hour) }, []string{"ends_at"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := ok
			tt.mod(&f)
			assertFields(t, f.validate("EUR", t0), tt.fields)
		})
	}
}

func TestBuildTimeline(t *testing.T) {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	u := func(s int) *time.Time { v := at(s); return &v }
	pins := []Pin{
		{ID: "a", PinnedAt: at(1), UnpinnedAt: u(5)},
		{ID: "b", PinnedAt: at(5)},
		{ID: "c", PinnedAt: at(3), UnpinnedAt: u(4)},
	}
	var got []string
	for _, e := range BuildTimeline(pins) {
		got = append(got, e.Type[4:]+":"+e.Pin.ID)
	}
	want := "added:a added:c removed:c removed:a added:b"
	if strings.Join(got, " ") != want {
		t.Fatalf("timeline = %v, want %s", got, want)
	}
}

func assertFields(t *testing.T, err error, fields []string) {
	t.Helper()
	if len(fields) == 0 {
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	var ve *errs.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want validation error on %v", err, fields)
	}
	got := map[string]bool{}
	for _, f := range ve.Fields {
		got[f.Field] = true
	}
	for _, f := range fields {
		if !got[f] {
			t.Fatalf("fields %v lack %q", ve.Fields, f)
		}
	}
	if len(got) != len(fields) {
		t.Fatalf("fields %v, want exactly %v", ve.Fields, fields)
	}
}
