import Foundation

/// Every failure of CamkitCore: a one-line ``message`` that names the problem and the fix
/// (re-export, push again, pick another backend). The app shows it as it is and the headless
/// benchmark writes it into the result's `error`.
///
/// The Kotlin core's `CamkitException`; named after camkit's own `CamkitError`, as Swift names
/// its error types.
public struct CamkitError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// The one-line message.
    public let message: String

    /// An error with ``message``.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }

    public var errorDescription: String? { message }
}

/// Throws a ``CamkitError`` with `message` unless `condition` holds (Kotlin core: `ensure`).
@inline(__always)
func ensure(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw CamkitError(message()) }
}

/// The first non-blank line of `text`, trimmed ("no message" when there is none).
func firstLine(_ text: String?) -> String {
    let line = (text ?? "").split(whereSeparator: \.isNewline)
        .map { $0.trimmingCharacters(in: .whitespaces) }
        .first { !$0.isEmpty }
    return line ?? "no message"
}
