/*
 * JStrVectors.java - how the vectors of tests/unit/test_jstr.c were made
 * (not part of the build; needs a JDK):
 *
 *   javac -d /tmp tools/JStrVectors.java
 *   printf '%s\n' 677270 c080677270 - | java -cp /tmp JStrVectors
 *
 * stdin: one byte string per line in hex ("-" = empty).  stdout per line:
 * the input, new String(bytes, UTF_8).hashCode(), the hex of that String's
 * getBytes(UTF_8) ("-" = empty), Kafka's Utils.abs(hashCode) % 50 and the
 * String's length().
 */
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

public class JStrVectors {
    static byte[] unhex(String s) {
        if (s.equals("-"))
            return new byte[0];
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++)
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        return b;
    }

    static String hex(byte[] b) {
        if (b.length == 0)
            return "-";
        StringBuilder sb = new StringBuilder();
        for (byte x : b)
            sb.append(String.format("%02x", x & 0xff));
        return sb.toString();
    }

    public static void main(String[] args) throws IOException {
        BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        for (String l; (l = r.readLine()) != null; ) {
            l = l.trim();
            if (l.isEmpty())
                continue;
            String s = new String(unhex(l), StandardCharsets.UTF_8);
            int h = s.hashCode();
            int abs = h == Integer.MIN_VALUE ? 0 : Math.abs(h);
            System.out.println(l + " " + h + " " + hex(s.getBytes(StandardCharsets.UTF_8)) + " " + (abs % 50) + " "
                               + s.length());
        }
    }
}
