package types

// validateFeedbacks checks the genesis feedbacks: ids unique and below next (0 means
// 1: a genesis from before feedback existed), each field well formed, the deployment
// known, a record's contribution in that deployment's feedback datanet, and at most
// one feedback per inference.
func validateFeedbacks(feedbacks []Feedback, next uint64, deployments map[uint64]*Deployment) error {
	if next == 0 {
		next = 1
	}
	ids := make(map[uint64]struct{}, len(feedbacks))
	type inferenceKey struct {
		kind    int32
		id, seq uint64
	}
	inferences := make(map[inferenceKey]uint64, len(feedbacks))
	for i := range feedbacks {
		f := &feedbacks[i]
		if f.Id == 0 || f.Id >= next {
			return ErrInvalidGenesis.Wrapf("feedback id %d out of range [1, %d)", f.Id, next)
		}
		if _, dup := ids[f.Id]; dup {
			return ErrInvalidGenesis.Wrapf("duplicate feedback %d", f.Id)
		}
		ids[f.Id] = struct{}{}
		if err := f.validateStored(deployments); err != nil {
			return ErrInvalidGenesis.Wrapf("feedback %d: %v", f.Id, err)
		}
		kind, id, seq := f.InferenceKey()
		k := inferenceKey{kind, id, seq}
		if other, dup := inferences[k]; dup {
			return ErrInvalidGenesis.Wrapf("feedback %d: the inference already has feedback %d", f.Id, other)
		}
		inferences[k] = f.Id
	}
	return nil
}

// validateStored checks a stored feedback's own fields and its deployment.
func (f *Feedback) validateStored(deployments map[uint64]*Deployment) error {
	if f.Rater == "" {
		return ErrInvalidAddress.Wrap("rater: empty")
	}
	switch f.Kind {
	case INFERENCE_KIND_JOB:
		if f.JobId == 0 || f.SessionId != 0 || f.RequestSeq != 0 || f.SettlementId != 0 {
			return ErrInvalidField.Wrap("a job feedback names a job only")
		}
	case INFERENCE_KIND_SESSION_REQUEST:
		if f.JobId != 0 || f.SessionId == 0 || f.RequestSeq == 0 || f.SettlementId == 0 {
			return ErrInvalidField.Wrap("a session feedback names a session, a request and a settlement")
		}
	default:
		return ErrInvalidField.Wrapf("kind %d", f.Kind)
	}
	if f.Rating != FEEDBACK_RATING_UP && f.Rating != FEEDBACK_RATING_DOWN {
		return ErrInvalidField.Wrapf("rating %d", f.Rating)
	}
	d, ok := deployments[f.DeploymentId]
	if !ok {
		return ErrDeploymentNotFound.Wrapf("deployment %d", f.DeploymentId)
	}
	if (f.RecordCid == "") != (f.ContributionId == 0) {
		return ErrInvalidField.Wrap("a record and its contribution go together")
	}
	if f.RecordCid != "" {
		if norm, err := NormalizeCID("record_cid", f.RecordCid); err != nil || norm != f.RecordCid {
			return ErrInvalidCID.Wrap("record_cid is not a normalised CIDv1")
		}
		if norm, err := NormalizeSHA256("record_sha256", f.RecordSha256); err != nil || norm != f.RecordSha256 {
			return ErrInvalidDigest.Wrap("record_sha256 is not 64 lowercase hex characters")
		}
		if f.RecordSize == 0 {
			return ErrInvalidSize.Wrap("record_size: zero")
		}
		if f.DatanetId == 0 || f.DatanetId != d.FeedbackDatanetId {
			return ErrInvalidField.Wrapf("datanet %d is not deployment %d's feedback datanet %d", f.DatanetId, d.Id, d.FeedbackDatanetId)
		}
	} else if f.DatanetId != 0 || f.RecordSha256 != "" || f.RecordSize != 0 {
		return ErrInvalidField.Wrap("a rating-only feedback has no datanet, digest or size")
	}
	return nil
}
