package letters

import (
	"context"
	"fmt"

	"gatehouse/models"
	"gatehouse/views"
)

// retentionNotice tells an owner that an unused workspace will be
// deleted unless someone signs in.
func (l Letters) retentionNotice(ctx context.Context, n models.RetentionNotice) (models.Mail, error) {
	w, st := n.Workspace, n.Status
	v := views.RetentionNoticeMailView{
		Company: l.company, Workspace: w.Slug, Name: w.Name, Recipient: n.Owner, Second: st.Next == models.NextMark,
		IdleSince: st.Since, DeleteOn: st.DeleteAt, IdleDays: int(l.now().Sub(st.Since) / models.Day),
	}
	kind := "retention.notice"
	if v.Second {
		kind = "retention.marked"
	}
	return mail(ctx, kind, views.RetentionNoticeMailTitle(v), views.RetentionNoticeMailText(v), views.RetentionNoticeMail(v))
}

// deletionLink asks an owner to confirm (or cancel) a deletion request.
func (l Letters) deletionLink(ctx context.Context, n models.DeletionLinkNotice) (models.Mail, error) {
	w, r := n.Workspace, n.Request
	v := views.DeletionConfirmationMailView{
		Company: l.company, Workspace: w.Slug, Name: w.Name, Recipient: n.Owner, Note: r.Note,
		Link: l.link("/deletion/", n.Token), Expires: r.ExpiresAt, Needed: r.NeededConfirmations,
	}
	return mail(ctx, "deletion.confirm", fmt.Sprintf("Confirm the deletion of your workspace %s", w.Name),
		views.DeletionConfirmationMailText(v), views.DeletionConfirmationMail(v))
}
