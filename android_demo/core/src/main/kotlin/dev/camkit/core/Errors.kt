package dev.camkit.core

/**
 * Every failure of :core: a one-line [message] that names the problem and the fix
 * (re-export, push again, pick another backend). The app shows it as it is and the headless
 * benchmark writes it into the result's `error`.
 */
class CamkitException(message: String, cause: Throwable? = null) : Exception(message, cause)

/** Throws a [CamkitException] with [message] unless [condition] holds. */
internal inline fun ensure(condition: Boolean, message: () -> String) {
    if (!condition) throw CamkitException(message())
}
