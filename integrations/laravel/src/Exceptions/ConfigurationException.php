<?php

namespace Switchboard\Laravel\Exceptions;

/** A setting of `config/switchboard.php` the call needs is missing or malformed. */
class ConfigurationException extends SwitchboardException
{
}
