package streaming

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/binding/spec"
	ce "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/segmentio/kafka-go"

	"github.com/daihuo/daihuo/domain/event"
)

// The header names of the CloudEvents Kafka protocol binding, binary content
// mode: attributes go in headers prefixed with ce_, except datacontenttype,
// which is the content-type header.
const (
	HeaderPrefix      = "ce_"
	HeaderContentType = "content-type"
)

// contentTypeJSON is the datacontenttype of every event daihuo emits.
const contentTypeJSON = "application/json"

// ErrInvalidMessage marks a Kafka message that is not a valid CloudEvent
// daihuo can read: a poison message that consumers log and skip.
var ErrInvalidMessage = errors.New("invalid cloudevents message")

// Encode turns ev into a Kafka message in CloudEvents binary content mode:
// attributes in ce_ headers, the JSON data as the value, the subject (the
// aggregate id) as the key and ev.Topic as the topic.
func Encode(ev event.Event) (kafka.Message, error) {
	e := ce.New(ce.CloudEventsVersionV1)
	e.SetID(ev.ID)
	e.SetType(ev.Type)
	e.SetSource(ev.Source)
	if ev.Subject != "" {
		e.SetSubject(ev.Subject)
	}
	if !ev.Time.IsZero() {
		e.SetTime(ev.Time.UTC())
	}
	if len(ev.Data) > 0 {
		if !json.Valid(ev.Data) {
			return kafka.Message{}, fmt.Errorf("encode event %s: data is not JSON", ev.ID)
		}
		e.SetDataContentType(contentTypeJSON)
		e.DataEncoded = ev.Data
	}
	if err := e.Validate(); err != nil {
		return kafka.Message{}, fmt.Errorf("encode event %q: %w", ev.ID, err)
	}
	if ev.Topic == "" {
		return kafka.Message{}, fmt.Errorf("encode event %s: no topic", ev.ID)
	}
	msg := kafka.Message{Topic: ev.Topic}
	if ev.Subject != "" {
		msg.Key = []byte(ev.Subject)
	}
	w := (*headerWriter)(&msg)
	if _, err := binding.Write(context.Background(), binding.ToMessage(&e), nil, w); err != nil {
		return kafka.Message{}, fmt.Errorf("encode event %s: %w", ev.ID, err)
	}
	return msg, nil
}

// Decode reads a CloudEvent from a Kafka message, in binary content mode or
// in structured JSON mode. A message that is not a valid CloudEvent 1.0 with
// JSON data yields an error wrapping ErrInvalidMessage.
func Decode(msg kafka.Message) (event.Event, error) {
	e, err := binding.ToEvent(context.Background(), (*messageReader)(&msg))
	if err != nil {
		return event.Event{}, fmt.Errorf("%w: %v", ErrInvalidMessage, err)
	}
	if err := e.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("%w: %v", ErrInvalidMessage, err)
	}
	if e.SpecVersion() != ce.CloudEventsVersionV1 {
		return event.Event{}, fmt.Errorf("%w: specversion %s", ErrInvalidMessage, e.SpecVersion())
	}
	data := e.Data()
	if len(data) > 0 {
		if ct := e.DataContentType(); ct != "" {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || (mt != contentTypeJSON && !strings.HasSuffix(mt, "+json")) {
				return event.Event{}, fmt.Errorf("%w: datacontenttype %q", ErrInvalidMessage, ct)
			}
		}
		if !json.Valid(data) {
			return event.Event{}, fmt.Errorf("%w: data is not JSON", ErrInvalidMessage)
		}
	}
	var t time.Time
	if !e.Time().IsZero() {
		t = e.Time().UTC()
	}
	return event.Event{
		ID:      e.ID(),
		Type:    e.Type(),
		Source:  e.Source(),
		Topic:   msg.Topic,
		Subject: e.Subject(),
		Time:    t,
		Data:    json.RawMessage(data),
	}, nil
}

// headerWriter is a binding.BinaryWriter writing a CloudEvent into the
// headers and value of a kafka-go message.
type headerWriter kafka.Message

var _ binding.BinaryWriter = (*headerWriter)(nil)

func (w *headerWriter) Start(context.Context) error { return nil }

func (w *headerWriter) End(context.Context) error { return nil }

func (w *headerWriter) SetAttribute(attr spec.Attribute, value any) error {
	if value == nil {
		return nil
	}
	s, err := types.Format(value)
	if err != nil {
		return err
	}
	name := HeaderPrefix + attr.Name()
	if attr.Kind() == spec.DataContentType {
		name = HeaderContentType
	}
	w.Headers = append(w.Headers, kafka.Header{Key: name, Value: []byte(s)})
	return nil
}

func (w *headerWriter) SetExtension(name string, value any) error {
	if value == nil {
		return nil
	}
	s, err := types.Format(value)
	if err != nil {
		return err
	}
	w.Headers = append(w.Headers, kafka.Header{Key: HeaderPrefix + name, Value: []byte(s)})
	return nil
}

func (w *headerWriter) SetData(data io.Reader) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, data); err != nil {
		return err
	}
	w.Value = buf.Bytes()
	return nil
}

// messageReader is a binding.MessageReader over a kafka-go message.
type messageReader kafka.Message

var _ binding.MessageReader = (*messageReader)(nil)

func (m *messageReader) header(name string) (string, bool) {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Key, name) {
			return string(h.Value), true
		}
	}
	return "", false
}

func (m *messageReader) ReadEncoding() binding.Encoding {
	if _, ok := m.header(HeaderPrefix + "specversion"); ok {
		return binding.EncodingBinary
	}
	if ct, ok := m.header(HeaderContentType); ok && format.IsFormat(ct) {
		return binding.EncodingStructured
	}
	return binding.EncodingUnknown
}

func (m *messageReader) ReadStructured(ctx context.Context, w binding.StructuredWriter) error {
	ct, _ := m.header(HeaderContentType)
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != format.JSON.MediaType() {
		return binding.ErrNotStructured
	}
	return w.SetStructuredEvent(ctx, format.JSON, bytes.NewReader(m.Value))
}

func (m *messageReader) ReadBinary(ctx context.Context, w binding.BinaryWriter) error {
	sv, _ := m.header(HeaderPrefix + "specversion")
	version := spec.VS.Version(sv)
	if version == nil {
		return fmt.Errorf("unknown specversion %q", sv)
	}
	for _, h := range m.Headers {
		key := strings.ToLower(h.Key)
		switch {
		case key == HeaderContentType:
			if err := w.SetAttribute(version.AttributeFromKind(spec.DataContentType), string(h.Value)); err != nil {
				return err
			}
		case strings.HasPrefix(key, HeaderPrefix):
			name := strings.TrimPrefix(key, HeaderPrefix)
			if attr := version.Attribute(name); attr != nil {
				if err := w.SetAttribute(attr, string(h.Value)); err != nil {
					return err
				}
			} else if err := w.SetExtension(name, string(h.Value)); err != nil {
				return err
			}
		}
	}
	if len(m.Value) > 0 {
		return w.SetData(bytes.NewReader(m.Value))
	}
	return nil
}

var _ binding.MessageMetadataReader = (*messageReader)(nil)

func (m *messageReader) GetAttribute(k spec.Kind) (spec.Attribute, any) {
	sv, _ := m.header(HeaderPrefix + "specversion")
	version := spec.VS.Version(sv)
	if version == nil {
		return nil, nil
	}
	attr := version.AttributeFromKind(k)
	if attr == nil {
		return nil, nil
	}
	name := HeaderPrefix + attr.Name()
	if k == spec.DataContentType {
		name = HeaderContentType
	}
	if v, ok := m.header(name); ok {
		return attr, v
	}
	return attr, nil
}

func (m *messageReader) GetExtension(name string) any {
	if v, ok := m.header(HeaderPrefix + name); ok {
		return v
	}
	return nil
}
