package api

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/feed"
	"github.com/esrflow/esrflow/services/api/store"
)

// MaxFeedWait caps ?wait= on the event feed.
const MaxFeedWait = 60 * time.Second

var eventTypes = []string{schemas.StarterCreated, schemas.LeaverConfirmed, schemas.PositionUpdated, schemas.LeaverReversed}

// getEvents serves a tenant's event feed (docs/api.md, Event feed): events
// in feed_seq order after ?after= (or its older name ?cursor=), filtered by
// ?type= and ?since=, long-polling up to ?wait= when there is nothing new.
func (s *Service) getEvents(w http.ResponseWriter, r *http.Request) {
	t, n, ok := tenantAndLimit(w, r)
	if !ok {
		return
	}
	q := store.EventQuery{Tenant: t, Limit: n}
	query := r.URL.Query()
	for _, v := range query["type"] {
		for typ := range strings.SplitSeq(v, ",") {
			if !slices.Contains(eventTypes, typ) {
				writeError(w, http.StatusBadRequest, "type must be starter-created, leaver-confirmed, position-updated or leaver-reversed")
				return
			}
			if !slices.Contains(q.Types, typ) { // at most the four types, however often named
				q.Types = append(q.Types, typ)
			}
		}
	}
	if since := query.Get("since"); since != "" {
		at, err := parseSince(since)
		if err != nil {
			writeError(w, http.StatusBadRequest, "since must be an RFC 3339 timestamp or a YYYY-MM-DD date")
			return
		}
		q.Since = at
	}
	after := query.Get("after")
	if c := query.Get("cursor"); c != "" {
		if after != "" && after != c {
			writeError(w, http.StatusBadRequest, "give after or cursor, not both")
			return
		}
		after = c
	}
	if after != "" {
		seq, err := feed.ParseCursor(after)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad cursor")
			return
		}
		q.After = seq
	}
	switch query.Get("order") {
	case "", "feed":
	case "newest":
		// The latest events (a console's "what happened lately"): a
		// listing, not a position to follow, so no cursor goes with it.
		if after != "" || query.Get("wait") != "" {
			writeError(w, http.StatusBadRequest, "order=newest takes no after, cursor or wait: it lists the latest events; follow the feed in its own order")
			return
		}
		q.Newest = true
	default:
		writeError(w, http.StatusBadRequest, "order must be feed or newest")
		return
	}
	var wait time.Duration
	if v := query.Get("wait"); v != "" {
		d, err := parseWait(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "wait must be a duration from 0s to 60s (e.g. 30s) or a number of seconds")
			return
		}
		wait = d
	}
	if wait > 0 {
		// Each waiting request holds a connection and polls: bounded per
		// client (the anonymous caller of the open mode is one client).
		name := auth.Anonymous
		if c := clientOf(r); c != nil {
			name = c.Name()
		}
		release, ok := s.waiters.take(name)
		if !ok {
			writeError(w, http.StatusTooManyRequests, "too many long polls ("+strconv.Itoa(MaxWaitersPerClient)+") are waiting for this API key: wait for one to answer, or poll without wait")
			return
		}
		defer release()
	}
	evs, err := s.waitEvents(r.Context(), q, wait)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away while waiting
		}
		s.internal(w, r, err)
		return
	}
	out := eventList{Events: evs, Cursor: feed.Cursor(q.After)}
	if q.Newest {
		// The position after the newest event listed: following the
		// feed from there misses nothing later.
		if len(evs) > 0 {
			out.Cursor = feed.Cursor(evs[0].Seq)
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	if len(evs) > 0 {
		out.Cursor = feed.Cursor(evs[len(evs)-1].Seq)
	}
	if len(evs) == n {
		out.NextCursor = out.Cursor
	}
	writeJSON(w, http.StatusOK, out)
}

// MaxWaitersPerClient bounds one API client's long polls (?wait=) waiting
// at once; more are answered 429.
const MaxWaitersPerClient = 64

// waiters counts each client's waiting long polls.
type waiters struct {
	mu sync.Mutex
	n  map[string]int
}

// take counts a waiter for client, unless it has MaxWaitersPerClient
// already; release uncounts it.
func (w *waiters) take(client string) (release func(), ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n == nil {
		w.n = map[string]int{}
	}
	if w.n[client] >= MaxWaitersPerClient {
		return nil, false
	}
	w.n[client]++
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.n[client]--; w.n[client] == 0 {
			delete(w.n, client)
		}
	}, true
}

// parseWait reads ?wait=: a Go duration ("30s") or whole seconds ("30").
func parseWait(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, err2 := strconv.Atoi(v)
		if err2 != nil {
			return 0, err
		}
		d = time.Duration(secs) * time.Second
	}
	if d < 0 || d > MaxFeedWait {
		return 0, strconv.ErrRange
	}
	return d, nil
}

// waitEvents reads a page of the feed; when it is empty it waits up to wait
// for the tenant's next commit (woken by the notifier, or by polling for
// commits of other instances, Config.FeedPoll) and reads again.
func (s *Service) waitEvents(ctx context.Context, q store.EventQuery, wait time.Duration) ([]store.Event, error) {
	var deadline <-chan time.Time
	if wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		deadline = timer.C
	}
	poll := time.NewTicker(s.cfg.FeedPoll)
	defer poll.Stop()
	for {
		changed := s.feed.Changed(q.Tenant) // before reading, so no commit slips between
		evs, err := s.store.Events(ctx, q)
		if err != nil || len(evs) > 0 || wait == 0 {
			return evs, err
		}
		select {
		case <-changed:
		case <-poll.C:
		case <-deadline:
			return evs, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// listenFeed, on PostgreSQL, wakes this instance's feed readers and webhook
// deliveries when another api instance sharing the database commits events
// (LISTEN esrflow_feed; store.assignFeedSeq notifies). It reconnects after
// a failure; meanwhile --feed.poll still finds the events. On SQLite there is
// one instance per file, so it does nothing.
func (s *Service) listenFeed(ctx context.Context) {
	if s.store.Dialect() != store.Postgres {
		return
	}
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("feed: LISTEN failed; relying on --feed.poll until it reconnects", zap.Error(err))
		select {
		case <-ctx.Done():
		case <-time.After(s.cfg.FeedPoll):
		}
	}
}

// listenOnce holds one connection in LISTEN until ctx ends or it fails. The
// connection is then discarded (driver.ErrBadConn), never returned to the
// pool still listening.
func (s *Service) listenOnce(ctx context.Context) error {
	conn, err := s.store.DB().Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("feed: not a pgx connection (%T)", dc)
		}
		pc := c.Conn()
		if _, err := pc.Exec(ctx, "LISTEN "+store.FeedChannel); err != nil {
			return errors.Join(err, driver.ErrBadConn)
		}
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				return errors.Join(err, driver.ErrBadConn)
			}
			s.feed.Notify(n.Payload)
		}
	})
}
