import Foundation

/// sha256 as camkit computes it (toolkit/artifacts.py `sha256_path`), Foundation only
/// (CryptoKit is not on Linux, where this core is tested as well).
public enum Sha256 {
    /// Hex sha256 of a file, or of a folder (an .mlpackage): each file's path relative to the
    /// folder ('/'-separated, UTF-8) then its bytes, the files sorted by path components as
    /// Python sorts `Path`s. Files are what `Path.is_file()` sees: symbolic links to files
    /// count, empty folders do not.
    public static func of(_ url: URL) throws -> String {
        var hasher = Sha256Hasher()
        if try isFile(url.path) {
            try update(&hasher, url)
        } else {
            let files = try relativeFiles(under: url.path, prefix: [])
                .sorted { lexicographicallyPrecedes($0, $1) }
            for parts in files {
                let rel = parts.joined(separator: "/")
                hasher.update(Array(rel.utf8))
                try update(&hasher, url.appendingPathComponent(rel))
            }
        }
        return hex(hasher.finalize())
    }

    /// Hex sha256 of `bytes`.
    public static func of(bytes: [UInt8]) -> String {
        var hasher = Sha256Hasher()
        hasher.update(bytes)
        return hex(hasher.finalize())
    }

    /// Lower-case hex of `digest`.
    public static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(digest.count * 2)
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isFile(_ path: String) throws -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CamkitError("\(path) does not exist; push it again")
        }
        return !isDirectory.boolValue
    }

    /// Relative paths (as components) of the files below `path`; symbolic links to folders
    /// are not followed (Python's `rglob`).
    private static func relativeFiles(under path: String, prefix: [String]) throws -> [[String]] {
        let fm = FileManager.default
        var out: [[String]] = []
        for name in try fm.contentsOfDirectory(atPath: path) {
            let child = (path as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: child, isDirectory: &isDirectory) else { continue }  // a broken link
            if !isDirectory.boolValue {
                out.append(prefix + [name])
            } else if (try? fm.destinationOfSymbolicLink(atPath: child)) == nil {
                out += try relativeFiles(under: child, prefix: prefix + [name])
            }
        }
        return out
    }

    /// Python's `str` order: by Unicode code points, component by component.
    private static func lexicographicallyPrecedes(_ a: [String], _ b: [String]) -> Bool {
        for (x, y) in zip(a, b) where x != y {
            return x.unicodeScalars.map(\.value).lexicographicallyPrecedes(y.unicodeScalars.map(\.value))
        }
        return a.count < b.count
    }

    private static func update(_ hasher: inout Sha256Hasher, _ url: URL) throws {
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: url)
        } catch {
            throw CamkitError("\(url.lastPathComponent) cannot be read (\(firstLine(error.localizedDescription))); push it again")
        }
        defer { try? handle.close() }
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(chunk)
        }
    }
}

/// Incremental SHA-256 (FIPS 180-4).
public struct Sha256Hasher {
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    private var state: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    /// Bytes not yet hashed (fewer than 64).
    private var pending: [UInt8] = []
    private var totalBytes: UInt64 = 0

    public init() {}

    /// Hashes `bytes` after what came before.
    public mutating func update<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        totalBytes += UInt64(bytes.count)
        pending.append(contentsOf: bytes)
        let whole = pending.count / 64 * 64
        guard whole > 0 else { return }
        var words = state
        pending.withUnsafeBufferPointer { buffer in
            var offset = 0
            while offset < whole {
                Sha256Hasher.compress(&words, buffer.baseAddress! + offset)
                offset += 64
            }
        }
        state = words
        pending.removeFirst(whole)
    }

    /// The 32-byte digest (the hasher is spent afterwards).
    public mutating func finalize() -> [UInt8] {
        let bits = totalBytes &* 8
        var tail: [UInt8] = [0x80]
        tail += [UInt8](repeating: 0, count: (55 - pending.count % 64 + 64) % 64)
        tail += (0..<8).map { UInt8(truncatingIfNeeded: bits >> (56 - 8 * UInt64($0))) }
        let before = totalBytes
        update(tail)
        totalBytes = before
        return state.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (24 - 8 * UInt32($0))) } }
    }

    private static func compress(_ state: inout [UInt32], _ block: UnsafePointer<UInt8>) {
        var w = [UInt32](repeating: 0, count: 64)
        for t in 0..<16 {
            w[t] = UInt32(block[4 * t]) << 24 | UInt32(block[4 * t + 1]) << 16
                | UInt32(block[4 * t + 2]) << 8 | UInt32(block[4 * t + 3])
        }
        for t in 16..<64 {
            let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
            let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
            w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
        }
        var a = state[0], b = state[1], c = state[2], d = state[3]
        var e = state[4], f = state[5], g = state[6], h = state[7]
        for t in 0..<64 {
            let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
            let ch = (e & f) ^ (~e & g)
            let temp1 = h &+ s1 &+ ch &+ k[t] &+ w[t]
            let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
            let maj = (a & b) ^ (a & c) ^ (b & c)
            let temp2 = s0 &+ maj
            h = g
            g = f
            f = e
            e = d &+ temp1
            d = c
            c = b
            b = a
            a = temp1 &+ temp2
        }
        state[0] = state[0] &+ a
        state[1] = state[1] &+ b
        state[2] = state[2] &+ c
        state[3] = state[3] &+ d
        state[4] = state[4] &+ e
        state[5] = state[5] &+ f
        state[6] = state[6] &+ g
        state[7] = state[7] &+ h
    }

    @inline(__always)
    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
}
