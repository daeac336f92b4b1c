<?php

namespace Switchboard\Laravel\Events;

/** `conversation.released`: a moderator let a conversation go (`reason` says why). */
class ConversationReleased extends SwitchboardEvent
{
}
