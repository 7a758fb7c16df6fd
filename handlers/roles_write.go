package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// The routes that propose a new custom role or a change to one: nothing
// changes until a second sysadmin approves the proposal (models.Propose).

// readRoleForm reads the role form: name, description, the ticked
// permissions, scope and the reason for the proposal. A permission code Gatehouse does not know is a message on
// "permissions", never silently dropped.
func readRoleForm(c echo.Context) (views.RoleForm, policy.RoleDef, views.Errors) {
	form := views.RoleForm{
		Name:        strings.TrimSpace(c.FormValue("name")),
		Description: strings.TrimSpace(c.FormValue("description")),
		Scope:       strings.TrimSpace(c.FormValue("scope")),
		Reason:      c.FormValue("reason"),
	}
	errs := views.Errors{}
	def := policy.RoleDef{Name: policy.Tier(form.Name), Description: form.Description, Scope: form.Scope}
	values, _ := c.FormParams()
	for _, code := range values["permission"] {
		form.Permissions = append(form.Permissions, code)
		p, ok := policy.ParsePermission(code)
		if !ok {
			errs["permissions"] = fmt.Sprintf("%s is not a permission Gatehouse knows.", models.Clip(code))
			continue
		}
		def.Permissions = append(def.Permissions, p)
	}
	return form, def, errs
}

// roleErrors turns a model's refusal into the form's messages; any other
// error is returned as is.
func roleErrors(err error) (views.Errors, error) {
	var fe models.FieldErrors
	if errors.As(err, &fe) {
		return views.Errors(fe), nil
	}
	return nil, err
}

// proposeRole proposes payload (a role.create, role.change or
// role.delete) with the form's reason; a refusal is the form's messages,
// nil error.
func (h *Handler) proposeRole(c echo.Context, kind models.ProposalKind, payload any, reason string) (models.Proposal, views.Errors, error) {
	p, err := models.Propose(c.Request().Context(), h.db.Write, h.act(c), models.ProposalInput{
		Kind: kind, Payload: payload, Reason: reason,
	})
	if errors.Is(err, models.ErrProposalRefused) {
		return p, nil, fmt.Errorf("%w: %w", policy.ErrDenied, err)
	}
	var ce *models.ConflictError
	if errors.As(err, &ce) {
		return p, views.Errors{"": ce.Message}, nil
	}
	errs, err := roleErrors(err)
	return p, errs, err
}

func (h *Handler) roleCreate(c echo.Context) error {
	form, def, errs := readRoleForm(c)
	var p models.Proposal
	if len(errs) == 0 {
		var err error
		if p, errs, err = h.proposeRole(c, models.KindRoleCreate, models.NewRoleProposal(def), form.Reason); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return h.renderRoleList(c, http.StatusUnprocessableEntity, form, errs)
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/proposals/%d?done=proposed", p.ID))
}

// customRole refuses a path naming a built-in tier (true: answered with
// the role's page and a message) or no role at all (ErrNotFound: 404).
func (h *Handler) customRole(c echo.Context, name string) (bool, error) {
	if policy.Tier(name).Valid() {
		return true, h.renderRole(c, http.StatusUnprocessableEntity, nil, views.Errors{"": name + " is a built-in tier: it is changed only in the reviewed policy file."})
	}
	_, err := models.FindRole(c.Request().Context(), h.db.Read, name)
	return false, err
}

func (h *Handler) roleChange(c echo.Context) error {
	name := c.Param("name")
	if answered, err := h.customRole(c, name); answered || err != nil {
		return err
	}
	form, def, errs := readRoleForm(c)
	form.Name, def.Name = name, policy.Tier(name)
	var p models.Proposal
	if len(errs) == 0 {
		var err error
		if p, errs, err = h.proposeRole(c, models.KindRoleChange, models.NewRoleProposal(def), form.Reason); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return h.renderRole(c, http.StatusUnprocessableEntity, &form, errs)
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/proposals/%d?done=proposed", p.ID))
}

// roleDelete proposes deleting the custom role in the path: refused while
// anyone active or suspended holds it (models.DeleteRole), and nothing
// changes until a second sysadmin approves.
func (h *Handler) roleDelete(c echo.Context) error {
	name := c.Param("name")
	if answered, err := h.customRole(c, name); answered || err != nil {
		return err
	}
	reason := c.FormValue("reason")
	p, errs, err := h.proposeRole(c, models.KindRoleDelete, models.RoleDeletion{Name: name}, reason)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		// The page's other form has a reason too.
		if msg, ok := errs["reason"]; ok {
			errs["delete-reason"] = msg
			delete(errs, "reason")
		}
		return h.renderRoleWith(c, http.StatusUnprocessableEntity, nil, errs, reason)
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/proposals/%d?done=proposed", p.ID))
}
