package dev.shepherd.spring.boot.autoconfigure.replica.jpa;

import jakarta.persistence.Entity;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.GenerationType;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.data.jpa.repository.JpaRepository;
import org.springframework.data.jpa.repository.config.EnableJpaRepositories;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;

/**
 * An ordinary Spring Data JPA application with no Shepherd code: an entity, its repository and a
 * controller. Shepherd's starter on the classpath and a few properties give it read-your-writes.
 */
@SpringBootApplication
@EnableJpaRepositories(considerNestedRepositories = true)
public class NotesApplication {

  /** A note. */
  @Entity
  @Table(name = "notes")
  public static class Note {
    @Id
    @GeneratedValue(strategy = GenerationType.IDENTITY)
    private Long id;
    private String text;

    protected Note() {}

    Note(String text) {
      this.text = text;
    }

    public Long getId() {
      return id;
    }

    public String getText() {
      return text;
    }
  }

  /** The repository: {@code findById} runs in a read-only transaction, {@code save} in a read-write one. */
  public interface NoteRepository extends JpaRepository<Note, Long> {}

  /** Writes and reads notes. */
  @RestController
  public static class NoteController {
    private final NoteRepository notes;

    NoteController(NoteRepository notes) {
      this.notes = notes;
    }

    @PostMapping("/notes")
    public String create(@RequestBody String text) {
      return String.valueOf(notes.save(new Note(text)).getId());
    }

    @GetMapping("/notes/{id}")
    public ResponseEntity<String> read(@PathVariable long id) {
      return notes.findById(id).map(n -> ResponseEntity.ok(n.getText())).orElse(ResponseEntity.notFound().build());
    }
  }
}
