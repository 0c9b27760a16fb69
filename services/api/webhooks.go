package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/feed"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/webhook"
)

// webhookSource lets the dispatcher read the feed: the same items, with the
// same JSON body, GET /v1/tenants/{t}/events serves.
type webhookSource struct{ s *Service }

func (w webhookSource) Events(ctx context.Context, tenant string, after int64, types []string, limit int) ([]webhook.Event, error) {
	evs, err := w.s.store.Events(ctx, store.EventQuery{Tenant: tenant, After: after, Types: types, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]webhook.Event, len(evs))
	for i, e := range evs {
		if out[i], err = asWebhookEvent(e); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (w webhookSource) Event(ctx context.Context, tenant, id string) (webhook.Event, error) {
	evs, err := w.s.store.QueryEvents(ctx, `SELECT `+store.EventColumns+` FROM events WHERE tenant = ? AND event_id = ?`, tenant, id)
	if err != nil {
		return webhook.Event{}, err
	}
	if len(evs) == 0 {
		return webhook.Event{}, store.ErrNotFound
	}
	return asWebhookEvent(evs[0])
}

func (w webhookSource) Changed(tenant string) <-chan struct{} { return w.s.feed.Changed(tenant) }

func asWebhookEvent(e store.Event) (webhook.Event, error) {
	body, err := json.Marshal(e)
	return webhook.Event{Seq: e.Seq, ID: e.EventID, PersonID: e.PersonID, Type: e.Type, Body: body}, err
}

// webhookClient names the subscriptions' owner: the client's name. Webhook
// endpoints need the operate scope, which is never open, so there is one.
func webhookClient(w http.ResponseWriter, r *http.Request) (string, bool) {
	name, _, ok := webhookOwner(w, r)
	return name, ok
}

// webhookOwner is webhookClient, and whether the client may see the
// personal fields minimisation leaves out.
func webhookOwner(w http.ResponseWriter, r *http.Request) (string, bool, bool) {
	c := clientOf(r)
	if c == nil {
		writeError(w, http.StatusUnauthorized, errOperateNeedsKey)
		return "", false, false
	}
	// A webhook delivers the event feed: its owner must be allowed to read it.
	if !c.HasAny([]string{auth.ScopeReadEvents}) {
		writeError(w, http.StatusForbidden, "webhooks deliver the event feed: the API key needs events:read as well as operate")
		return "", false, false
	}
	return c.Name(), c.Sensitive(), true
}

type webhookRequest struct {
	URL   string   `json:"url"`
	Types []string `json:"types"`
	// After is a feed cursor to start after; empty: only events committed
	// from now on.
	After string `json:"after"`
}

func (s *Service) postWebhook(w http.ResponseWriter, r *http.Request) {
	t, ok := tenant(w, r)
	if !ok {
		return
	}
	client, sensitive, ok := webhookOwner(w, r)
	if !ok {
		return
	}
	var req webhookRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body must be JSON: {\"url\": ..., \"types\": [...], \"after\": cursor}")
		return
	}
	if err := s.webhooks.CheckURL(req.URL); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// Each subscription is a delivery loop and up to MaxAttempts requests
	// an event: bounded per client and tenant. (Check then insert is not
	// atomic; two racing requests may pass one over: a bound, not a quota.)
	if live, err := s.whStore.List(r.Context(), t, client); err != nil {
		s.internal(w, r, err)
		return
	} else if len(live) >= MaxWebhooksPerClient {
		writeError(w, http.StatusConflict, "this API key already has "+strconv.Itoa(MaxWebhooksPerClient)+" subscriptions on tenant "+t+": delete one first")
		return
	}
	types := []string{}
	for _, typ := range req.Types {
		if !slices.Contains(eventTypes, typ) {
			writeError(w, http.StatusBadRequest, "types must be starter-created, leaver-confirmed, position-updated or leaver-reversed")
			return
		}
		if !slices.Contains(types, typ) {
			types = append(types, typ)
		}
	}
	var after int64
	if req.After != "" {
		seq, err := feed.ParseCursor(req.After)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad cursor")
			return
		}
		after = seq
	} else {
		head, err := s.store.FeedHead(r.Context(), t)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		after = head
	}
	sub := webhook.Subscription{ID: "wh_" + strings.ReplaceAll(uuid.NewString(), "-", ""), Tenant: t, Client: client,
		URL: req.URL, Types: types, Secret: webhook.NewSecret(), AfterSeq: after, Sensitive: sensitive, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if err := s.whStore.Create(r.Context(), sub); err != nil {
		s.internal(w, r, err)
		return
	}
	s.webhooks.Kick()
	writeJSON(w, http.StatusCreated, sub) // the only answer that shows the secret
}

// MaxWebhooksPerClient bounds one API client's live subscriptions on a
// tenant.
const MaxWebhooksPerClient = 10

type webhookList struct {
	Webhooks []webhook.Subscription `json:"webhooks"`
}

func (s *Service) getWebhooks(w http.ResponseWriter, r *http.Request) {
	t, ok := tenant(w, r)
	if !ok {
		return
	}
	client, ok := webhookClient(w, r)
	if !ok {
		return
	}
	subs, err := s.whStore.List(r.Context(), t, client)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	for i := range subs {
		subs[i].Secret = ""
	}
	writeJSON(w, http.StatusOK, webhookList{Webhooks: subs})
}

// subscription finds the path's subscription among the client's own,
// answering 404 for another client's or tenant's.
func (s *Service) subscription(w http.ResponseWriter, r *http.Request) (*webhook.Subscription, bool) {
	t, ok := tenant(w, r)
	if !ok {
		return nil, false
	}
	client, ok := webhookClient(w, r)
	if !ok {
		return nil, false
	}
	sub, err := s.whStore.Get(r.Context(), t, client, r.PathValue("webhook_id"))
	switch {
	case errors.Is(err, webhook.ErrNotFound):
		writeError(w, http.StatusNotFound, "webhook not found")
		return nil, false
	case err != nil:
		s.internal(w, r, err)
		return nil, false
	}
	sub.Secret = ""
	return sub, true
}

func (s *Service) getWebhook(w http.ResponseWriter, r *http.Request) {
	if sub, ok := s.subscription(w, r); ok {
		writeJSON(w, http.StatusOK, sub)
	}
}

func (s *Service) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	sub, ok := s.subscription(w, r)
	if !ok {
		return
	}
	if err := s.whStore.Delete(r.Context(), sub.Tenant, sub.Client, sub.ID, time.Now()); err != nil && !errors.Is(err, webhook.ErrNotFound) {
		s.internal(w, r, err)
		return
	}
	s.webhooks.Kick()
	w.WriteHeader(http.StatusNoContent)
}

type deliveryList struct {
	Deliveries []webhook.Delivery `json:"deliveries"`
	// NextCursor continues the log (?cursor=); empty at the end.
	NextCursor string `json:"next_cursor,omitempty"`
}

func (s *Service) getWebhookDeliveries(w http.ResponseWriter, r *http.Request) {
	sub, ok := s.subscription(w, r)
	if !ok {
		return
	}
	n, ok := limit(w, r)
	if !ok {
		return
	}
	var after *webhook.DeliveryCursor
	if c := r.URL.Query().Get("cursor"); c != "" {
		at, rest, err := parseCursor(c)
		attempt, id, ok := strings.Cut(rest, ":")
		n, aerr := strconv.Atoi(attempt)
		if err != nil || !ok || aerr != nil || !store.CleanText(id) {
			writeError(w, http.StatusBadRequest, "bad cursor")
			return
		}
		after = &webhook.DeliveryCursor{At: at, EventID: id, Attempt: n}
	}
	eventID := r.URL.Query().Get("event_id")
	if !store.CleanText(eventID) {
		writeJSON(w, http.StatusOK, deliveryList{Deliveries: []webhook.Delivery{}})
		return
	}
	list, pos, err := s.whStore.Deliveries(r.Context(), sub.ID, eventID, after, n)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := deliveryList{Deliveries: list}
	if len(list) == n {
		last := pos[len(pos)-1]
		out.NextCursor = makeCursor(last.At, strconv.Itoa(last.Attempt)+":"+last.EventID)
	}
	writeJSON(w, http.StatusOK, out)
}

type webhookDeadLetterList struct {
	DeadLetters []webhook.DeadLetter `json:"dead_letters"`
	// NextCursor continues the list (?cursor=); empty at the end.
	NextCursor string `json:"next_cursor,omitempty"`
}

func (s *Service) getWebhookDeadLetters(w http.ResponseWriter, r *http.Request) {
	sub, ok := s.subscription(w, r)
	if !ok {
		return
	}
	n, ok := limit(w, r)
	if !ok {
		return
	}
	status := r.URL.Query().Get("status")
	switch status {
	case "", webhook.StatusDead, webhook.StatusReplaying, webhook.StatusDelivered:
	default:
		writeError(w, http.StatusBadRequest, "status must be dead, replaying or delivered")
		return
	}
	var after int64
	if c := r.URL.Query().Get("cursor"); c != "" {
		seq, err := feed.ParseCursor(c)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad cursor")
			return
		}
		after = seq
	}
	list, err := s.whStore.DeadLetters(r.Context(), sub.ID, status, after, n)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := webhookDeadLetterList{DeadLetters: list}
	if len(list) == n {
		out.NextCursor = feed.Cursor(list[len(list)-1].Seq)
	}
	writeJSON(w, http.StatusOK, out)
}

type webhookReplayRequest struct {
	EventIDs []string `json:"event_ids"`
}

func (s *Service) postWebhookReplay(w http.ResponseWriter, r *http.Request) {
	sub, ok := s.subscription(w, r)
	if !ok {
		return
	}
	var req webhookReplayRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil && len(strings.TrimSpace(string(body))) > 0 {
		err = json.Unmarshal(body, &req)
	}
	if err != nil || len(req.EventIDs) > store.MaxLimit || slices.ContainsFunc(req.EventIDs, func(id string) bool { return !store.CleanText(id) || id == "" }) {
		writeError(w, http.StatusBadRequest, "body must be empty (replay every dead letter) or {\"event_ids\": [...]} (at most 1000)")
		return
	}
	n, err := s.whStore.Replay(r.Context(), sub.ID, req.EventIDs, time.Now())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.webhooks.Kick()
	writeJSON(w, http.StatusAccepted, map[string]int{"replaying": n})
}
