package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// The routes that create and change custom roles directly. They stand
// until role changes go through proposals (a second sysadmin approves).

// readRoleForm reads the role form: name, description and the ticked
// permissions. A permission code Gatehouse does not know is a message on
// "permissions", never silently dropped.
func readRoleForm(c echo.Context) (views.RoleForm, policy.RoleDef, views.Errors) {
	form := views.RoleForm{
		Name:        strings.TrimSpace(c.FormValue("name")),
		Description: strings.TrimSpace(c.FormValue("description")),
	}
	errs := views.Errors{}
	def := policy.RoleDef{Name: policy.Tier(form.Name), Description: form.Description}
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

func (h *Handler) roleCreate(c echo.Context) error {
	form, def, errs := readRoleForm(c)
	if len(errs) == 0 {
		_, err := models.CreateRole(c.Request().Context(), h.db.Write, models.Act{Now: h.now(), By: h.actor(c)}, def)
		if errs, err = roleErrors(err); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return h.renderRoleList(c, http.StatusUnprocessableEntity, form, errs)
	}
	return c.Redirect(http.StatusSeeOther, "/roles/"+url.PathEscape(form.Name)+"?done=created")
}

func (h *Handler) roleChange(c echo.Context) error {
	name := c.Param("name")
	if policy.Tier(name).Valid() {
		return h.renderRole(c, http.StatusUnprocessableEntity, nil, views.Errors{"": name + " is a built-in tier: it is changed only in the reviewed policy file."})
	}
	form, def, errs := readRoleForm(c)
	form.Name = name
	if len(errs) == 0 {
		_, err := models.ChangeRole(c.Request().Context(), h.db.Write, models.Act{Now: h.now(), By: h.actor(c)}, name, def)
		if errs, err = roleErrors(err); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return h.renderRole(c, http.StatusUnprocessableEntity, &form, errs)
	}
	return c.Redirect(http.StatusSeeOther, "/roles/"+url.PathEscape(name)+"?done=changed")
}
