package models

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The sentinels of models, returned wrapped; test them with errors.Is.
// The HTTP error handler maps ErrNotFound to 404 and ErrConflict to 409.
var (
	// ErrNotFound is a looked-up row that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict is a change that collides with existing data or with
	// the current state (a duplicate email, offboarding twice). When
	// people read why, it comes as a *ConflictError.
	ErrConflict = errors.New("conflict")

	// ErrBadToken is a consent token that is unknown, altered or no
	// longer valid. It says nothing more, on purpose.
	ErrBadToken = errors.New("this link is not valid")
	// ErrConsentChanged is a consent decided on a page that no longer
	// matches the request (the customer must look again).
	ErrConsentChanged = errors.New("the request changed since this page was shown")
	// ErrTwoPerson is the requester or the grantee trying to approve or
	// deny their own request.
	ErrTwoPerson = errors.New("a request is decided by a senior who is neither its requester nor its grantee")
	// ErrWeakReason is a justification that is not a real sentence.
	ErrWeakReason = errors.New("say in a real sentence why")

	// ErrNoGrant is a data request that no live grant covers (403).
	ErrNoGrant = errors.New("no live grant covers this")
	// ErrNotCleared is a staff member who is not active or lacks the
	// current agreement or security training asking for tenant data (403).
	ErrNotCleared = errors.New("not cleared for customer data: the current confidentiality agreement and security training are required")
	// ErrRevealRefused is a reveal under a grant whose customer did not
	// consent to single reveals (its mode is not ModeReveal) (403).
	ErrRevealRefused = errors.New("the customer did not consent to revealing single fields under this access")
	// ErrUnaudited is a data request whose audit event could not be
	// committed: nothing was shown (503).
	ErrUnaudited = errors.New("the access could not be recorded")

	// ErrNotDue is a workspace's deletion that is not due (wrapped with
	// ErrConflict).
	ErrNotDue = errors.New("the workspace's deletion is not due")
	// ErrHeld is a legal hold stopping a deletion (wrapped with
	// ErrConflict).
	ErrHeld = errors.New("the workspace is under a legal hold")

	// ErrBreakglassRefused is a person who may not open or review a
	// break-glass: not an active sysadmin with the current agreement, or
	// reviewing their own.
	ErrBreakglassRefused = errors.New("break-glass refused")
	// ErrNoSession is a session token that names no live session.
	ErrNoSession = errors.New("no live session")
	// ErrAuditWriterClosed is returned by AuditWriter.Append after Close.
	ErrAuditWriterClosed = errors.New("audit writer closed")
	// ErrMailRejected is wrapped by a MailSender's error when the mail
	// server refused the mail for good (a 5xx reply): retrying cannot
	// help, so the worker marks the mail failed at once.
	ErrMailRejected = errors.New("mail rejected permanently")
)

// ConflictError is an ErrConflict whose reason people read: Message is
// the whole sentence, so no caller cuts it out of Error().
type ConflictError struct {
	Message string
}

func (e *ConflictError) Error() string { return e.Message }

// Is makes a ConflictError an ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// conflictf builds a ConflictError from a sentence.
func conflictf(format string, args ...any) error {
	return &ConflictError{Message: fmt.Sprintf(format, args...)}
}

// FieldErrors are input that cannot be accepted: form field → the
// message the person reads ("" for the form as a whole). Nothing was
// written.
type FieldErrors map[string]string

func (e FieldErrors) Error() string {
	parts := make([]string, 0, len(e))
	for _, k := range slices.Sorted(maps.Keys(e)) {
		parts = append(parts, k+": "+e[k])
	}
	return "invalid: " + strings.Join(parts, "; ")
}

// Invalid is one field's message as FieldErrors.
func Invalid(field, message string) FieldErrors { return FieldErrors{field: message} }
