<?php

namespace Switchboard\Laravel\Events;

/** `conversation.assigned`: a conversation was given to a moderator. */
class ConversationAssigned extends SwitchboardEvent
{
}
