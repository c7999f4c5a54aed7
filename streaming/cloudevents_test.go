package streaming_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/daihuo/daihuo/domain/event"
	"github.com/daihuo/daihuo/streaming"
)

func sampleEvent() event.Event {
	return event.Event{
		ID:      "evt_01J0000000000000000000000",
		Type:    "daihuo.order.paid.v1",
		Source:  event.Source,
		Topic:   event.TopicOrders,
		Subject: "ord_01J0000000000000000000000",
		Time:    time.Date(2026, 3, 1, 12, 30, 45, 123456000, time.UTC),
		Data:    json.RawMessage(`{"amount":1200,"currency":"JPY"}`),
	}
}

func TestEncodeUsesBinaryContentMode(t *testing.T) {
	ev := sampleEvent()
	msg, err := streaming.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range msg.Headers {
		names = append(names, h.Key)
	}
	slices.Sort(names)
	want := []string{"ce_id", "ce_source", "ce_specversion", "ce_subject", "ce_time", "ce_type", "content-type"}
	if !slices.Equal(names, want) {
		t.Fatalf("headers = %v, want %v", names, want)
	}
	for k, v := range map[string]string{
		"ce_id":          ev.ID,
		"ce_type":        ev.Type,
		"ce_source":      ev.Source,
		"ce_subject":     ev.Subject,
		"ce_specversion": "1.0",
		"ce_time":        "2026-03-01T12:30:45.123456Z",
		"content-type":   "application/json",
	} {
		if got := header(msg, k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if msg.Topic != ev.Topic || string(msg.Key) != ev.Subject || string(msg.Value) != string(ev.Data) {
		t.Errorf("topic, key, value = %q, %q, %q", msg.Topic, msg.Key, msg.Value)
	}
}

func TestCodecRoundTrips(t *testing.T) {
	noSubject := sampleEvent()
	noSubject.Subject = ""
	noData := sampleEvent()
	noData.Data = nil
	for name, ev := range map[string]event.Event{"full": sampleEvent(), "no subject": noSubject, "no data": noData} {
		t.Run(name, func(t *testing.T) {
			msg, err := streaming.Encode(ev)
			if err != nil {
				t.Fatal(err)
			}
			got, err := streaming.Decode(msg)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != ev.ID || got.Type != ev.Type || got.Source != ev.Source || got.Topic != ev.Topic ||
				got.Subject != ev.Subject || !got.Time.Equal(ev.Time) || got.Time.Location() != time.UTC ||
				string(got.Data) != string(ev.Data) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, ev)
			}
		})
	}
}

func TestEncodeRejectsInvalidEvents(t *testing.T) {
	for name, mutate := range map[string]func(*event.Event){
		"no id":         func(e *event.Event) { e.ID = "" },
		"no type":       func(e *event.Event) { e.Type = "" },
		"no source":     func(e *event.Event) { e.Source = "" },
		"no topic":      func(e *event.Event) { e.Topic = "" },
		"data not json": func(e *event.Event) { e.Data = json.RawMessage("{oops") },
	} {
		t.Run(name, func(t *testing.T) {
			ev := sampleEvent()
			mutate(&ev)
			if _, err := streaming.Encode(ev); err == nil {
				t.Fatal("Encode succeeded")
			}
		})
	}
}

func TestDecodeRejectsInvalidMessages(t *testing.T) {
	valid, err := streaming.Encode(sampleEvent())
	if err != nil {
		t.Fatal(err)
	}
	without := func(name string) func(*kafka.Message) {
		return func(m *kafka.Message) {
			m.Headers = slices.DeleteFunc(slices.Clone(m.Headers), func(h kafka.Header) bool { return h.Key == name })
		}
	}
	set := func(name, value string) func(*kafka.Message) {
		return func(m *kafka.Message) {
			hs := slices.Clone(m.Headers)
			for i := range hs {
				if hs[i].Key == name {
					hs[i].Value = []byte(value)
				}
			}
			m.Headers = hs
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*kafka.Message)
	}{
		{"missing ce_id", without("ce_id")},
		{"missing ce_type", without("ce_type")},
		{"missing ce_source", without("ce_source")},
		{"missing ce_specversion", without("ce_specversion")},
		{"no headers", func(m *kafka.Message) { m.Headers = nil }},
		{"unknown specversion", set("ce_specversion", "9.9")},
		{"old specversion", set("ce_specversion", "0.3")},
		{"bad time", set("ce_time", "yesterday")},
		{"not json content type", set("content-type", "text/plain")},
		{"data not json", func(m *kafka.Message) { m.Value = []byte("{oops") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := valid
			tc.mutate(&m)
			if _, err := streaming.Decode(m); !errors.Is(err, streaming.ErrInvalidMessage) {
				t.Fatalf("Decode error = %v, want ErrInvalidMessage", err)
			}
		})
	}
}

func TestDecodeReadsStructuredMode(t *testing.T) {
	msg := kafka.Message{
		Topic:   event.TopicOrders,
		Headers: []kafka.Header{{Key: "content-type", Value: []byte("application/cloudevents+json; charset=utf-8")}},
		Value: []byte(`{"specversion":"1.0","id":"evt_1","type":"daihuo.order.paid.v1","source":"/daihuo",
			"subject":"ord_1","time":"2026-03-01T12:30:45Z","datacontenttype":"application/json","data":{"amount":1}}`),
	}
	ev, err := streaming.Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != "evt_1" || ev.Subject != "ord_1" || string(ev.Data) != `{"amount":1}` || ev.Topic != event.TopicOrders {
		t.Fatalf("decoded %+v", ev)
	}
	msg.Value = []byte(`{"specversion":"1.0","type":"daihuo.order.paid.v1","source":"/daihuo"}`)
	if _, err := streaming.Decode(msg); !errors.Is(err, streaming.ErrInvalidMessage) {
		t.Fatalf("structured without id: error = %v, want ErrInvalidMessage", err)
	}
}
