<?php

namespace Switchboard\Laravel\Events;

/**
 * `message.sent`: a moderator replied as a profile. The host delivers `body` to the
 * client; `message_id` is the reply's id, `in_reply_to` the inbound message it answers.
 */
class MessageSent extends SwitchboardEvent
{
    /** @return int|string */
    public function messageId()
    {
        return $this->data['message_id'];
    }

    public function clientId(): int
    {
        return (int) $this->data['client_id'];
    }

    public function profileId(): int
    {
        return (int) $this->data['profile_id'];
    }

    public function moderatorId(): int
    {
        return (int) $this->data['moderator_id'];
    }

    public function body(): string
    {
        return (string) $this->data['body'];
    }
}
