import Foundation
@testable import CamkitCore

/// A small PNG decoder for the tests (8-bit gray, gray + alpha, RGB and RGBA, not interlaced:
/// what Pillow writes for the fixtures), over CamkitCore's own inflate. Foundation only, so the
/// tests run where neither UIKit nor CoreGraphics is (Linux); the app decodes photos with UIKit.
enum Png {
    static func decode(_ bytes: [UInt8]) throws -> Image {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard bytes.count > 8, Array(bytes[0..<8]) == signature else { throw CamkitError("not a PNG") }
        var at = 8
        var width = 0, height = 0, channels = 0
        var idat: [UInt8] = []
        while at + 8 <= bytes.count {
            let length = Int(be32(bytes, at))
            let type = String(decoding: bytes[at + 4..<at + 8], as: UTF8.self)
            let body = at + 8
            guard body + length + 4 <= bytes.count else { throw CamkitError("PNG chunk \(type) is truncated") }
            switch type {
            case "IHDR":
                width = Int(be32(bytes, body))
                height = Int(be32(bytes, body + 4))
                let depth = bytes[body + 8], color = bytes[body + 9], interlace = bytes[body + 12]
                guard depth == 8, interlace == 0 else { throw CamkitError("PNG of depth \(depth), interlace \(interlace): not read here") }
                switch color {
                case 0: channels = 1
                case 2: channels = 3
                case 4: channels = 2
                case 6: channels = 4
                default: throw CamkitError("PNG colour type \(color): not read here")
                }
            case "IDAT":
                idat += bytes[body..<body + length]
            default:
                break
            }
            at = body + length + 4
            if type == "IEND" { break }
        }
        guard width > 0, height > 0, idat.count > 2 else { throw CamkitError("PNG without IHDR or IDAT") }
        // zlib: a 2-byte header, the deflate stream, an Adler-32 (not checked here)
        let raw = try Inflate.inflate(Array(idat[2...]))
        let stride = width * channels
        guard raw.count >= height * (stride + 1) else { throw CamkitError("PNG data is short") }
        var pixels = [UInt8](repeating: 0, count: height * stride)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)]
            let src = y * (stride + 1) + 1
            for i in 0..<stride {
                let a = i >= channels ? Int(pixels[y * stride + i - channels]) : 0
                let b = y > 0 ? Int(pixels[(y - 1) * stride + i]) : 0
                let c = i >= channels && y > 0 ? Int(pixels[(y - 1) * stride + i - channels]) : 0
                let x = Int(raw[src + i])
                let predicted: Int
                switch filter {
                case 0: predicted = 0
                case 1: predicted = a
                case 2: predicted = b
                case 3: predicted = (a + b) / 2
                case 4: predicted = paeth(a, b, c)
                default: throw CamkitError("PNG filter \(filter) is not one PNG defines")
                }
                pixels[y * stride + i] = UInt8((x + predicted) & 0xFF)
            }
        }
        var rgba = [UInt8](repeating: 255, count: width * height * 4)
        for p in 0..<width * height {
            let s = p * channels
            switch channels {
            case 1, 2:
                rgba[p * 4] = pixels[s]
                rgba[p * 4 + 1] = pixels[s]
                rgba[p * 4 + 2] = pixels[s]
                if channels == 2 { rgba[p * 4 + 3] = pixels[s + 1] }
            default:
                rgba[p * 4] = pixels[s]
                rgba[p * 4 + 1] = pixels[s + 1]
                rgba[p * 4 + 2] = pixels[s + 2]
                if channels == 4 { rgba[p * 4 + 3] = pixels[s + 3] }
            }
        }
        return try Image(width: width, height: height, rgba: rgba)
    }

    private static func be32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }

    private static func paeth(_ a: Int, _ b: Int, _ c: Int) -> Int {
        let p = a + b - c
        let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
        if pa <= pb && pa <= pc { return a }
        return pb <= pc ? b : c
    }
}
