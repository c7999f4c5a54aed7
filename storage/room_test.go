package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/storage"
)

func newRoom(t *testing.T, w *liveWorld) *live.Room {
	t.Helper()
	return live.NewRoom(storage.NewLiveStore(w.db), storage.NewRoomStore(w.db), storage.NewPartyStore(w.db), storage.NewOutbox(w.db, ""),
		storage.NewTransactor(w.db), func() time.Time { return w.now }, live.RoomOptions{BlockedWords: []string{"scam"}, ChatLimit: 3, ChatWindow: 10 * time.Second})
}

func newShopper(t *testing.T, w *liveWorld, name string) party.Principal {
	t.Helper()
	ps := party.NewService(storage.NewPartyStore(w.db), storage.NewTokenStore(w.db), storage.NewTransactor(w.db), func() time.Time { return w.now })
	sh, _, err := ps.CreateShopper(context.Background(), party.Principal{}, party.NewShopper{DisplayName: name})
	if err != nil {
		t.Fatal(err)
	}
	return party.Principal{Role: party.RoleShopper, PartyID: sh.ID}
}

func TestChatModerationAndRateLimit(t *testing.T) {
	ctx := context.Background()
	w := newLiveWorld(t)
	room := newRoom(t, w)
	ann := newShopper(t, w, "Ann")
	bob := newShopper(t, w, "Bob")

	_, err := room.Chat(ctx, ann, w.stream.ID, "hello")
	wantCode(t, err, errs.CodeInvalidState) // not live yet
	if _, err := w.svc.StartStream(ctx, w.creator, w.stream.ID); err != nil {
		t.Fatal(err)
	}
	msg, err := room.Chat(ctx, ann, w.stream.ID, "  hello everyone  ")
	if err != nil {
		t.Fatal(err)
	}
	if msg.Text != "hello everyone" || msg.DisplayName != "Ann" {
		t.Fatalf("message = %+v", msg)
	}
	bad := []struct {
		name string
		text string
		code errs.Code
	}{
		{"empty", "   ", errs.CodeValidation},
		{"too long", strings.Repeat("a", live.MaxChatLen+1), errs.CodeValidation},
		{"blocked word", "this is a SCAM!", errs.CodeValidation},
		{"blocked word split by a zero-width space", "this is a sc\u200bam", errs.CodeValidation},
		{"blocked word split by a soft hyphen", "sc\u00adam here", errs.CodeValidation},
		{"blocked word split by a word joiner", "sca\u2060m", errs.CodeValidation},
		{"blocked word in full-width letters", "ｓｃａｍ", errs.CodeValidation},
		{"control char", "a\x07b", errs.CodeValidation},
		{"invalid utf-8", "a\xffb", errs.CodeValidation},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := room.Chat(ctx, bob, w.stream.ID, tt.text)
			wantCode(t, err, tt.code)
		})
	}
	// "scampi" is not the blocked word.
	if _, err := room.Chat(ctx, bob, w.stream.ID, "scampi tonight?"); err != nil {
		t.Fatal(err)
	}
	// The joiners inside an emoji sequence are kept as sent.
	family := "\U0001F468\u200d\U0001F469\u200d\U0001F467 family night"
	if m, err := room.Chat(ctx, newShopper(t, w, "Dana"), w.stream.ID, family); err != nil || m.Text != family {
		t.Fatalf("chat %q = %q, %v; want it as sent", family, m.Text, err)
	}

	// Three messages per window, then rate limited; the window moves on.
	for i := 0; i < 2; i++ {
		if _, err := room.Chat(ctx, ann, w.stream.ID, "again"); err != nil {
			t.Fatalf("message %d: %v", i+2, err)
		}
	}
	_, err = room.Chat(ctx, ann, w.stream.ID, "one too many")
	wantCode(t, err, errs.CodeRateLimited)
	w.now = w.now.Add(11 * time.Second)
	if _, err := room.Chat(ctx, ann, w.stream.ID, "later"); err != nil {
		t.Fatal(err)
	}

	// Moderation: a brand cannot, the host can; muted shoppers cannot chat.
	wantCode(t, room.DeleteMessage(ctx, w.brandA, w.stream.ID, msg.ID), errs.CodeNotFound)
	wantCode(t, room.Mute(ctx, w.brandA, w.stream.ID, bob.PartyID), errs.CodeNotFound)
	if err := room.DeleteMessage(ctx, w.creator, w.stream.ID, msg.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, room.DeleteMessage(ctx, w.creator, w.stream.ID, msg.ID), errs.CodeNotFound)
	if err := room.Mute(ctx, w.agency, w.stream.ID, bob.PartyID); err != nil {
		t.Fatal(err)
	}
	_, err = room.Chat(ctx, bob, w.stream.ID, "let me talk")
	wantCode(t, err, errs.CodeForbidden)
	if err := room.Unmute(ctx, party.Principal{Role: party.RoleAdmin}, w.stream.ID, bob.PartyID); err != nil {
		t.Fatal(err)
	}
	if _, err := room.Chat(ctx, bob, w.stream.ID, "thanks"); err != nil {
		t.Fatal(err)
	}
	types := w.outboxTypes(t)
	var chats, deletes int
	for _, ty := range types {
		switch ty {
		case live.EventChatMessage:
			chats++
		case live.EventChatDeleted:
			deletes++
		}
	}
	if chats != 7 || deletes != 1 {
		t.Fatalf("chat events %d, deletes %d; want 7 and 1 (%v)", chats, deletes, types)
	}
}

func TestLikesAreBatched(t *testing.T) {
	ctx := context.Background()
	w := newLiveWorld(t)
	room := newRoom(t, w)
	ann := newShopper(t, w, "Ann")
	if _, err := w.svc.StartStream(ctx, w.creator, w.stream.ID); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := room.Like(ctx, ann, w.stream.ID, 5); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	wantCode(t, room.Like(ctx, ann, w.stream.ID, 0), errs.CodeValidation)
	wantCode(t, room.Like(ctx, ann, w.stream.ID, live.MaxLikesTap+1), errs.CodeValidation)
	if err := room.FlushLikes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := room.Like(ctx, ann, w.stream.ID, 1); err != nil {
		t.Fatal(err)
	}
	if err := room.FlushLikes(ctx); err != nil {
		t.Fatal(err)
	}
	var payloads []string
	if err := w.db.Raw("SELECT data::text FROM outbox WHERE event_type = ? ORDER BY id", live.EventLikes).Scan(&payloads).Error; err != nil {
		t.Fatal(err)
	}
	if len(payloads) != 2 {
		t.Fatalf("likes events = %d, want 2 (one per flush)", len(payloads))
	}
	var last live.LikesPayload
	if err := json.Unmarshal([]byte(payloads[1]), &last); err != nil {
		t.Fatal(err)
	}
	if last.Count != 1 || last.Total != 201 {
		t.Fatalf("last likes batch = %+v, want count 1 total 201", last)
	}
}

func TestPresenceAcrossNodes(t *testing.T) {
	ctx := context.Background()
	w := newLiveWorld(t)
	store := storage.NewRoomStore(w.db)
	clock := func() time.Time { return w.now }
	type shown struct {
		mu   sync.Mutex
		last map[string]int
	}
	node := func(name string, local *map[string]int) (*live.Presence, *shown) {
		s := &shown{last: map[string]int{}}
		p := live.NewPresence(store, name, func() map[string]int {
			out := map[string]int{}
			for k, v := range *local {
				out[k] = v
			}
			return out
		}, func(id string, n int) { s.mu.Lock(); s.last[id] = n; s.mu.Unlock() }, clock, 2*time.Second)
		return p, s
	}
	localA := map[string]int{w.stream.ID: 3}
	localB := map[string]int{w.stream.ID: 2}
	a, shownA := node("node-a", &localA)
	b, shownB := node("node-b", &localB)
	a.Saw(w.stream.ID, "shp_1")
	a.Saw(w.stream.ID, "shp_2")
	b.Saw(w.stream.ID, "shp_1")
	for _, p := range []*live.Presence{a, b, a} {
		if err := p.Beat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if shownA.last[w.stream.ID] != 5 {
		t.Fatalf("node A shows %d viewers, want 5", shownA.last[w.stream.ID])
	}
	if shownB.last[w.stream.ID] != 5 {
		t.Fatalf("node B shows %d viewers, want 5", shownB.last[w.stream.ID])
	}
	// Node B dies: after the window only node A's viewers count.
	w.now = w.now.Add(a.Window() + time.Second)
	if err := a.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Viewers(ctx, w.stream.ID); err != nil || got != 3 {
		t.Fatalf("viewers after node B went silent = %d (%v), want 3", got, err)
	}
	if shownA.last[w.stream.ID] != 3 {
		t.Fatalf("node A shows %d, want 3", shownA.last[w.stream.ID])
	}
	peak, unique, err := store.Audience(ctx, w.stream.ID)
	if err != nil {
		t.Fatal(err)
	}
	if peak != 5 || unique != 2 {
		t.Fatalf("peak %d unique %d, want 5 and 2", peak, unique)
	}

	// Long after, node B's row is deleted; node A's, still beating, stays.
	rows := func(node string) int64 {
		var n int64
		if err := w.db.Raw("SELECT count(*) FROM stream_presence WHERE node_id = ?", node).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	for range 40 {
		w.now = w.now.Add(a.Window())
		if err := a.Beat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if rows("node-b") != 0 || rows("node-a") != 1 {
		t.Fatalf("presence rows: node B %d, node A %d; want 0 and 1", rows("node-b"), rows("node-a"))
	}
}

// A node that stops leaves: its count drops to zero at once, so its
// viewers, reconnecting to another node, are not counted on both (which
// would also raise the peak for good).
func TestPresenceNodeLeavesWhenStopped(t *testing.T) {
	ctx := context.Background()
	w := newLiveWorld(t)
	store := storage.NewRoomStore(w.db)
	local := map[string]map[string]int{"node-a": {w.stream.ID: 100}, "node-b": {w.stream.ID: 50}}
	node := func(name string) *live.Presence {
		return live.NewPresence(store, name, func() map[string]int { return maps.Clone(local[name]) },
			func(string, int) {}, func() time.Time { return w.now }, 2*time.Second)
	}
	a, b := node("node-a"), node("node-b")
	for _, p := range []*live.Presence{a, b} {
		if err := p.Beat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a.Saw(w.stream.ID, "shp_late") // queued, not yet written
	stopped, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.Run(stopped, func(err error) { t.Error(err) }); err != nil {
		t.Fatal(err)
	}
	local["node-b"][w.stream.ID] = 150 // node A's viewers came over
	w.now = w.now.Add(2 * time.Second)
	if err := b.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	viewers, err := b.Viewers(ctx, w.stream.ID)
	if err != nil {
		t.Fatal(err)
	}
	peak, unique, err := store.Audience(ctx, w.stream.ID)
	if err != nil {
		t.Fatal(err)
	}
	if viewers != 150 || peak != 150 || unique != 1 {
		t.Fatalf("viewers %d, peak %d, unique %d; want 150, 150 and 1", viewers, peak, unique)
	}
}

// failingViewers fails AddViewers while down, as a database outage would:
// fault injection around the real store.
type failingViewers struct {
	*storage.RoomStore
	down bool
}

func (f *failingViewers) AddViewers(ctx context.Context, seen []live.Seen) error {
	if f.down {
		return errors.New("connection reset")
	}
	return f.RoomStore.AddViewers(ctx, seen)
}

// Viewers queued before a beat that fails are written by a later one: Saw
// is called once per connection, so a viewer dropped there never counts.
func TestPresenceKeepsViewersOfAFailedBeat(t *testing.T) {
	ctx := context.Background()
	w := newLiveWorld(t)
	store := &failingViewers{RoomStore: storage.NewRoomStore(w.db), down: true}
	p := live.NewPresence(store, "node-a", func() map[string]int { return map[string]int{w.stream.ID: 2} },
		func(string, int) {}, func() time.Time { return w.now }, 2*time.Second)
	p.Saw(w.stream.ID, "shp_1")
	p.Saw(w.stream.ID, "shp_2")
	if err := p.Beat(ctx); err == nil {
		t.Fatal("a beat while the store is down succeeded")
	}
	store.down = false
	w.now = w.now.Add(2 * time.Second)
	if err := p.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	if _, unique, err := store.Audience(ctx, w.stream.ID); err != nil || unique != 2 {
		t.Fatalf("unique viewers %d (%v), want 2", unique, err)
	}
}

// Messages sent at once by one shopper count each other: no more than the
// limit gets through.
func TestChatRateLimitHoldsUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	w := newLiveWorld(t)
	room := newRoom(t, w) // 3 messages per 10 s
	ann := newShopper(t, w, "Ann")
	if _, err := w.svc.StartStream(ctx, w.creator, w.stream.ID); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var sent, limited atomic.Int32
	for range 30 {
		wg.Go(func() {
			_, err := room.Chat(ctx, ann, w.stream.ID, "flash deal!")
			switch {
			case err == nil:
				sent.Add(1)
			case errors.Is(err, live.ErrChatRateLimited):
				limited.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if sent.Load() != 3 || limited.Load() != 27 {
		t.Fatalf("%d messages sent and %d refused, want 3 and 27", sent.Load(), limited.Load())
	}
}
