package leadsflow.examples;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.LocalDateTime;
import java.util.HexFormat;
import java.util.function.BiConsumer;
import leadsflow.LeadsFlowRepository;
import leadsflow.LeadsFlowRepository.Lead;

/**
 * GeneralKafkaConsumer#selectLeadsByAdChannel on the repository: a channel's leads over [joinFrom, joinTo), keyset
 * pages on idx_channel_join (no OFFSET, no unbounded read), the same in both phases (leads_flow is read from the
 * start of the dual-write period). Where an ad platform wants the phone's hash, the phone is decrypted in memory,
 * hashed and dropped; it never goes on Kafka or into a log.
 */
public final class GeneralKafkaConsumerExample {
    private final LeadsFlowRepository flow;

    public GeneralKafkaConsumerExample(LeadsFlowRepository flow) {
        this.flow = flow;
    }

    /** Calls {@code upload} with each lead and the SHA-256 (hex) of its E.164 phone, or null when it has none. */
    public long selectLeadsByAdChannel(String fromChannel, LocalDateTime joinFrom, LocalDateTime joinTo,
            BiConsumer<Lead, String> upload) {
        long n = 0;
        for (Lead lead : flow.iterByChannel(fromChannel, joinFrom, joinTo, 1000, false)) {
            upload.accept(lead, lead.hasPhone() ? sha256(lead.revealPhone(flow.cipher())) : null);
            n++;
        }
        return n;
    }

    static String sha256(String e164) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(e164.getBytes(StandardCharsets.US_ASCII)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 unavailable", e);
        }
    }
}
