package handlers

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"gatehouse/models"

	"github.com/labstack/echo/v4"
)

// A decision's note survives the step-up ("confirm it is you") round trip
// in a cookie: sealed (AES-GCM under a key derived from the session key),
// bound to the person and their session, kept for the browser session and
// at most loginFlowTTL. GET /requests/:id/decide shows it back in the form;
// the approver still presses Approve or Deny. Nothing is decided by a GET.

// keptNoteMax bounds the sealed cookie: browsers keep cookies up to about
// 4 KB. A longer note is not kept, and the page says so.
const keptNoteMax = 3000

// keptDecision is what the step-up page keeps of a decision form.
type keptDecision struct {
	Staff   int64  `json:"s"`
	Session string `json:"h"` // hash of the session the form was sent from
	Request int64  `json:"r"`
	Approve bool   `json:"a"`
	Note    string `json:"n"`
	TooLong bool   `json:"l,omitempty"`
	Until   int64  `json:"u"` // Unix seconds
}

func (h *Handler) keptCookieName() string { return h.cookiePrefix() + "gatehouse_kept" }

func (h *Handler) keptAEAD() cipher.AEAD {
	m := hmac.New(sha256.New, h.sessionKey)
	m.Write([]byte("gatehouse step-up kept decision v1"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// keepDecision runs on the step-up page of a decision form (approve or
// deny): it seals the form's note into the kept cookie and returns where
// the sign-in should lead back to, the form with the note; ok is false
// for every other route.
func (h *Handler) keepDecision(c echo.Context) (returnTo string, ok bool) {
	approve := strings.HasSuffix(c.Path(), "/approve")
	if c.Path() != "/requests/:id/approve" && c.Path() != "/requests/:id/deny" {
		return "", false
	}
	id, err := requestID(c)
	v := viewerOf(c)
	if err != nil || v == nil {
		return "", false
	}
	k := keptDecision{
		Staff: v.Staff.ID, Session: v.Session.IDHash, Request: id, Approve: approve,
		Note: c.FormValue("note"), Until: h.now().Add(loginFlowTTL).Unix(),
	}
	if len(k.Note) > keptNoteMax {
		k.Note, k.TooLong = "", true
	}
	plain, err := json.Marshal(k)
	if err != nil {
		return "", false
	}
	aead := h.keptAEAD()
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", false
	}
	sealed := aead.Seal(nonce, nonce, plain, []byte(h.keptCookieName()))
	// No Max-Age: gone when the browser closes; Until bounds it before.
	c.SetCookie(h.cookie(h.keptCookieName(), base64.RawURLEncoding.EncodeToString(sealed), 0))
	return fmt.Sprintf("/requests/%d/decide", id), true
}

// takeKeptDecision opens the kept cookie for request id and clears it. It
// answers only the person who sealed it, before it expires, from the
// session it was sealed in or the one the step-up replaced it with.
func (h *Handler) takeKeptDecision(c echo.Context, id int64) (keptDecision, bool) {
	ck, err := c.Cookie(h.keptCookieName())
	if err != nil || ck.Value == "" {
		return keptDecision{}, false
	}
	c.SetCookie(h.cookie(h.keptCookieName(), "", -1))
	k, err := h.openKept(ck.Value)
	v := viewerOf(c)
	if err != nil || v == nil || k.Staff != v.Staff.ID || k.Request != id || h.now().Unix() > k.Until {
		return keptDecision{}, false
	}
	if k.Session != v.Session.IDHash {
		// The step-up starts a new session and ends the one it replaces.
		old, staff, err := models.SessionByHash(c.Request().Context(), h.db.Read, k.Session)
		if err != nil || staff.ID != v.Staff.ID || old.EndReason != "replaced" {
			return keptDecision{}, false
		}
	}
	return k, true
}

func (h *Handler) openKept(value string) (keptDecision, error) {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	aead := h.keptAEAD()
	if err != nil || len(raw) < aead.NonceSize() {
		return keptDecision{}, errors.New("kept decision: malformed")
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(h.keptCookieName()))
	if err != nil {
		return keptDecision{}, fmt.Errorf("kept decision: %w", err)
	}
	var k keptDecision
	if err := json.Unmarshal(plain, &k); err != nil {
		return keptDecision{}, fmt.Errorf("kept decision: %w", err)
	}
	return k, nil
}

// requestDecidePage is where the step-up of a decision leads back to:
// the request with the decision form and the note that was typed. It
// decides nothing; without a kept note it is the request's page.
func (h *Handler) requestDecidePage(c echo.Context) error {
	id, err := requestID(c)
	if err != nil {
		return err
	}
	k, ok := h.takeKeptDecision(c, id)
	if !ok {
		return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/requests/%d", id))
	}
	return h.renderRequestWith(c, http.StatusOK, actionForm{note: k.Note, kept: keptNotice(k)}, nil)
}

// keptNotice tells the approver what was kept and that nothing is
// decided yet.
func keptNotice(k keptDecision) string {
	verb := "deny"
	if k.Approve {
		verb = "approve"
	}
	if k.TooLong {
		return "You signed in again. Your note was too long to keep across the sign-in: please type it again, then " + verb + ". Nothing has been decided yet."
	}
	return "You signed in again. Your note is below: check it and press " + strings.ToUpper(verb[:1]) + verb[1:] + " to finish. Nothing has been decided yet."
}
