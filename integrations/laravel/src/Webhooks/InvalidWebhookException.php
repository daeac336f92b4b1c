<?php

namespace Switchboard\Laravel\Webhooks;

use Switchboard\Laravel\Exceptions\SwitchboardException;

/** A delivery that is not provably from Switchboard, or not from now. */
class InvalidWebhookException extends SwitchboardException
{
}
