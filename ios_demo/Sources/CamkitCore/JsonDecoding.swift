import Foundation

/// Codable reads of camkit's JSON files that fail with one line naming the file and the key
/// (the Kotlin core's `Json`). Decoders carry the file's name in their `userInfo`, so a
/// type's `init(from:)` can name it in its own refusals.
enum JsonDecoding {
    /// `userInfo` key of the name of the file being decoded.
    static let whereKey = CodingUserInfoKey(rawValue: "camkit.where")!

    /// `data` (the file `name`) decoded as `T`; a ``CamkitError`` on any failure.
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, where name: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.userInfo[whereKey] = name
        do {
            return try decoder.decode(T.self, from: data)
        } catch let error as CamkitError {
            throw error
        } catch let error as DecodingError {
            throw CamkitError(describe(error, name))
        } catch {
            throw CamkitError("\(name) could not be read (\(firstLine(error.localizedDescription))); write it again")
        }
    }

    /// One line for a `DecodingError`, naming the key path.
    static func describe(_ error: DecodingError, _ name: String) -> String {
        func path(_ keys: [CodingKey]) -> String {
            let text = keys.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
            return text.hasPrefix(".") ? String(text.dropFirst()) : text
        }
        switch error {
        case let .keyNotFound(key, context):
            let at = path(context.codingPath + [key])
            return "\(name) has no '\(at)'; re-export the artifact with camkit"
        case let .typeMismatch(type, context):
            return "\(name): '\(path(context.codingPath))' must be \(typeName(type)); re-export the artifact with camkit"
        case let .valueNotFound(type, context):
            return "\(name): '\(path(context.codingPath))' is null where \(typeName(type)) is needed; re-export the artifact with camkit"
        case let .dataCorrupted(context):
            if context.codingPath.isEmpty {
                return "\(name) is not valid JSON (\(firstLine(context.debugDescription))); write it again"
            }
            return "\(name): '\(path(context.codingPath))' is not readable (\(firstLine(context.debugDescription))); re-export the artifact with camkit"
        @unknown default:
            return "\(name) could not be read (\(firstLine(error.localizedDescription))); write it again"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type: return "an integer"
        case is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        default: return "\(type)"
        }
    }
}

extension Decoder {
    /// The name of the file being decoded ("JSON" when the decoder was not told).
    var camkitWhere: String { userInfo[JsonDecoding.whereKey] as? String ?? "JSON" }
}
