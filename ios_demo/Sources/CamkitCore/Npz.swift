import Foundation

/// numpy's .npz (a zip of .npy files, entries stored or deflated: `np.savez` and
/// `np.savez_compressed`, zip64 records included) and .npy 1.0 / 2.0 / 3.0, C order, of
/// little-endian float32 (`<f4`) or uint8 (`|u1`); anything else is refused in one line.
public enum Npz {
    /// The arrays of the .npz `url`, by key (the entry name without `.npy`).
    public static func read(_ url: URL) throws -> [String: Tensor] {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw CamkitError("no .npz at \(url.path); push the sample with 'camkit app push'")
        }
        return try read(bytes: [UInt8](data), where: url.lastPathComponent)
    }

    /// The arrays of an .npz held in `bytes`.
    public static func read(bytes: [UInt8], where name: String = "npz") throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for entry in try Zip.entries(bytes, where: name) where !entry.name.hasSuffix("/") {
            try ensure(entry.name.hasSuffix(".npy"), "\(name) holds '\(entry.name)', not an .npy; write it with numpy")
            out[String(entry.name.dropLast(4))] = try readNpy(entry.data, where: "\(name):\(entry.name)")
        }
        try ensure(!out.isEmpty, "\(name) holds no arrays (not an .npz?); push it again")
        return out
    }

    /// One .npy file's bytes as a tensor.
    public static func readNpy(_ bytes: [UInt8], where name: String = "npy") throws -> Tensor {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY
        try ensure(bytes.count >= 10 && Array(bytes[0..<6]) == magic, "\(name) is not an .npy file")
        let major = Int(bytes[6])
        let headerLength: Int
        let start: Int
        switch major {
        case 1:
            headerLength = Int(Zip.u16(bytes, 8))
            start = 10
        case 2, 3:
            try ensure(bytes.count >= 12, "\(name) is truncated")
            headerLength = Int(Zip.u32(bytes, 8))
            start = 12
        default:
            throw CamkitError("\(name) is .npy version \(major); the app reads versions 1 to 3")
        }
        try ensure(start + headerLength <= bytes.count, "\(name) is truncated")
        let header = String(decoding: bytes[start..<start + headerLength], as: UTF8.self)
        guard let descr = quoted(after: "'descr'", in: header) else {
            throw CamkitError("\(name) has no dtype in its header")
        }
        try ensure(!header.contains("'fortran_order': True"),
                   "\(name) is in Fortran order; write it C-contiguous (np.ascontiguousarray)")
        guard let dims = shape(in: header) else { throw CamkitError("\(name) has no shape in its header") }
        let count = dims.reduce(1, *)
        let data = start + headerLength
        switch descr {
        case "<f4":
            try ensure(data + 4 * count <= bytes.count, "\(name) is truncated")
            var floats = [Float](repeating: 0, count: count)
            for i in 0..<count { floats[i] = Float(bitPattern: Zip.u32(bytes, data + 4 * i)) }
            return try Tensor(shape: dims, floats: floats)
        case "|u1", "<u1", "u1":
            try ensure(data + count <= bytes.count, "\(name) is truncated")
            return try Tensor(shape: dims, bytes: Array(bytes[data..<data + count]))
        default:
            throw CamkitError("\(name) holds dtype '\(descr)'; the app reads little-endian float32 ('<f4') and uint8 ('|u1')")
        }
    }

    /// The '...'-quoted value after `key` in a Python dict literal.
    private static func quoted(after key: String, in header: String) -> String? {
        guard let keyRange = header.range(of: key),
              let open = header[keyRange.upperBound...].firstIndex(of: "'") else { return nil }
        let rest = header[header.index(after: open)...]
        guard let close = rest.firstIndex(of: "'") else { return nil }
        return String(rest[..<close])
    }

    /// The `'shape': (a, b, ...)` tuple of an .npy header.
    private static func shape(in header: String) -> [Int]? {
        guard let keyRange = header.range(of: "'shape'"),
              let open = header[keyRange.upperBound...].firstIndex(of: "("),
              let close = header[open...].firstIndex(of: ")") else { return nil }
        let inner = header[header.index(after: open)..<close]
        var dims: [Int] = []
        for part in inner.split(separator: ",") {
            let text = part.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            guard let d = Int(text), d >= 0 else { return nil }
            dims.append(d)
        }
        return dims
    }
}

/// The entries of a zip archive, read through its central directory (zip64 records included);
/// stored and deflated entries, CRC-checked.
enum Zip {
    struct Entry {
        let name: String
        let data: [UInt8]
    }

    static func u16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) | UInt16(b[at + 1]) << 8 }

    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }

    static func u64(_ b: [UInt8], _ at: Int) -> UInt64 { UInt64(u32(b, at)) | UInt64(u32(b, at + 4)) << 32 }

    static func entries(_ b: [UInt8], where name: String) throws -> [Entry] {
        let broken = CamkitError("\(name) is not a readable .npz (a damaged zip); push it again")
        // End of central directory: 22 bytes plus a comment of up to 65535, searched from the end.
        guard b.count >= 22 else { throw broken }
        var end = b.count - 22
        let lowest = max(0, b.count - 22 - 0xFFFF)
        while end >= lowest && u32(b, end) != 0x0605_4B50 { end -= 1 }
        guard end >= lowest else { throw broken }
        var count = Int(u16(b, end + 10))
        var directory = Int(u32(b, end + 16))
        // Zip64: the locator sits just before the end record and points at the zip64 end record.
        if end >= 20 && u32(b, end - 20) == 0x0706_4B50 {
            let record = Int(u64(b, end - 12))
            guard record >= 0, record + 56 <= b.count, u32(b, record) == 0x0606_4B50 else { throw broken }
            count = Int(u64(b, record + 32))
            directory = Int(u64(b, record + 48))
        }
        var out: [Entry] = []
        var at = directory
        for _ in 0..<count {
            guard at + 46 <= b.count, u32(b, at) == 0x0201_4B50 else { throw broken }
            let flags = u16(b, at + 8)
            let method = u16(b, at + 10)
            let crc = u32(b, at + 16)
            var compressed = UInt64(u32(b, at + 20))
            var size = UInt64(u32(b, at + 24))
            let nameLength = Int(u16(b, at + 28))
            let extraLength = Int(u16(b, at + 30))
            let commentLength = Int(u16(b, at + 32))
            var local = UInt64(u32(b, at + 42))
            guard at + 46 + nameLength + extraLength <= b.count else { throw broken }
            let entryName = String(decoding: b[at + 46..<at + 46 + nameLength], as: UTF8.self)
            // The zip64 extra field holds, in this order, the values that are 0xFFFFFFFF above.
            var extra = at + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = u16(b, extra)
                let length = Int(u16(b, extra + 2))
                var field = extra + 4
                if id == 0x0001 {
                    if size == 0xFFFF_FFFF && field + 8 <= extraEnd { size = u64(b, field); field += 8 }
                    if compressed == 0xFFFF_FFFF && field + 8 <= extraEnd { compressed = u64(b, field); field += 8 }
                    if local == 0xFFFF_FFFF && field + 8 <= extraEnd { local = u64(b, field) }
                }
                extra += 4 + length
            }
            try ensure(flags & 1 == 0, "\(name) has an encrypted entry '\(entryName)'; write it with numpy")
            let header = Int(local)
            guard header + 30 <= b.count, u32(b, header) == 0x0403_4B50 else { throw broken }
            let start = header + 30 + Int(u16(b, header + 26)) + Int(u16(b, header + 28))
            guard start + Int(compressed) <= b.count else { throw broken }
            let raw = Array(b[start..<start + Int(compressed)])
            let data: [UInt8]
            switch method {
            case 0: data = raw
            case 8: data = try Inflate.inflate(raw, expectedCount: Int(size))
            default:
                throw CamkitError("\(name) entry '\(entryName)' uses zip method \(method); the app reads stored and deflated entries")
            }
            try ensure(data.count == Int(size) && Crc32.of(data) == crc,
                       "\(name) entry '\(entryName)' does not match its checksum; push it again")
            out.append(Entry(name: entryName, data: data))
            at += 46 + nameLength + extraLength + commentLength
        }
        return out
    }
}
