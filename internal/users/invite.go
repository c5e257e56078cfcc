package users

// SendInvitationInput is sendInvitation's input.
type SendInvitationInput struct {
	UserID int `json:"userId"`
}
